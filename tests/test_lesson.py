"""docs/lesson.md: the lesson's steps in order, each with its concepts' code as it stands in the files
and the numbers the backends compute; the page is checked for staleness with the other docs
(tests/test_rosetta.py::test_the_committed_docs_are_current)."""

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta.testing import assert_within, require_backend, selected_backends
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.rosetta.lesson import (
    SOURCE,
    STEPS,
    Step,
    extra_rows,
    printed_costs,
    step_blocks,
    step_sections,
)
from softmax_rosetta.tools.rosetta.lesson_markdown import render_lesson
from softmax_rosetta.tools.rosetta.markdown import md_anchor

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The lesson's steps, and the concepts of the table they show, in order.
STEP_KEYS = ["data", "softmax", "loss-onehot", "loss-nll", "loss-fused", "model", "sgd", "loop"]
SHOWN = ["softmax", "one-hot", "loss-onehot", "log-softmax", "loss-nll", "loss-fused", "model", "optimizer", "step"]
SHOWN += ["loop"]


@pytest.fixture(scope="module")
def code():
    """The lesson's code only: no backend is run."""
    return rosetta.build(numbers=False)


@pytest.fixture(scope="module")
def fresh(trained):
    """The docs' content with every backend's numbers (the runs shared through conftest's ``trained``)."""
    unselected = [name for name in rosetta.ORDER if name not in selected_backends()]
    if unselected:
        pytest.skip(f"the lesson's numbers need every backend; SOFTMAX_ROSETTA_BACKENDS leaves out {unselected}")
    for name in rosetta.ORDER:
        require_backend(name)
    return rosetta.build(runs=lambda name, variant: trained(name, variant, rosetta.DTYPE))


def test_the_steps_walk_through_the_lesson_in_order(code):
    assert [s.key for s in STEPS] == STEP_KEYS
    assert [k for s in STEPS for k in s.concepts] == SHOWN
    for step in STEPS:
        blocks = step_blocks(code, step)
        for b in rosetta.ORDER:
            assert bool(blocks[b]) == bool(step.concepts), (step.key, b)
    assert [s.key for s in STEPS if s.printout] == ["loop"]


def test_each_step_shows_its_concepts_code_as_it_stands_in_the_files(code):
    text, tolerances = render_lesson(code)
    assert tolerances == []  # without numbers, nothing is printed
    assert "exp(z) / exp(z).sum()" not in text.replace("np.exp(z) / np.exp(z).sum()", "")  # the lesson never wrote it
    for step in STEPS:
        assert f"## {STEPS.index(step) + 1}. {step.title}\n" in text
        for blocks in step_blocks(code, step).values():
            for block in blocks:
                lines = (ROOT / block.path).read_text(encoding="utf-8").splitlines()
                assert block.code == textwrap.dedent("\n".join(lines[block.line - 1 : block.end_line])), block
                assert f"```python\n{block.code}\n```" in text and f"]({block.link})" in text
    # the SGD step leaves out what goes beyond the lesson (torch's dampening, written for optax)
    assert "def dampened_trace" not in text and "def dampened_trace" in rosetta.render(code)["rosetta.md"]


def test_a_step_that_names_what_is_not_there_fails_loudly(code):
    with pytest.raises(
        rosetta.RosettaError, match=r"lesson step 'x' shows 'softmax-v2'.*tools/rosetta/lesson_steps.py"
    ):
        step_sections(code, Step("x", "X", ["text"], concepts=["softmax", "softmax-v2"]))
    with pytest.raises(rosetta.RosettaError, match=r"lesson step 'x' leaves out 'nope'"):
        step_blocks(code, Step("x", "X", ["text"], concepts=["softmax"], leave_out=["nope"]))


def test_the_page_says_where_the_lesson_comes_from_and_links_only_to_the_repository():
    md = (DOCS / "lesson.md").read_text(encoding="utf-8")
    assert md.count(SOURCE) == 1
    # the lesson is retold, not pasted: no Korean but the link to the Korean page (docs/ko/lesson.md)
    korean = [x for x in md.splitlines() if re.search(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]", x)]
    assert korean == ["This page in Korean: [한국어](ko/lesson.md)."]
    assert not re.search(r"https?://", md)
    anchors = {md_anchor(i, s.title) for i, s in enumerate(STEPS, 1)} | {md_anchor(len(STEPS) + 1, "Where next")}
    for link in re.findall(r"\]\(([^)\s]+)\)", md):
        target, _, anchor = link.partition("#")
        if not target:
            assert anchor in anchors, link
        else:
            assert (DOCS / target).resolve().is_file(), link


def test_the_readme_sends_learners_to_the_lesson_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.index("## ")  # the first section
    assert "docs/lesson.md" in readme[:first] and "notebooks/" in readme[:first]


# --- the numbers --------------------------------------------------------------------------------


def test_the_printout_is_the_lessons_and_every_backend_reproduces_it(fresh):
    spec = fresh.spec
    epochs, costs = printed_costs(fresh)
    assert epochs == list(range(0, spec.epochs + 1, 100)) and len(epochs) == 11
    assert costs["lesson"].tolist() == list(spec.expected_costs)
    tol = spec.tolerance(rosetta.DTYPE).expected_cost
    for b in rosetta.ORDER:
        assert_within(costs[b], costs["lesson"], tol, f"{b}'s costs vs the lesson's printout")


def test_softmax_of_1_2_3_is_the_lessons(fresh):
    """The lesson's first printout, [0.0900, 0.2447, 0.6652] (4 decimals), from every backend: by the
    lesson's one line in each framework, and by the project's softmax."""
    rows = extra_rows(fresh, STEPS[STEP_KEYS.index("softmax")])
    assert [row.label for row in rows] == [
        "the lesson's one line, on [1, 2, 3] (it printed 0.0900, 0.2447, 0.6652)",
        "softmax([1, 2, 3])",
    ]
    for row in rows:
        for b in rosetta.ORDER:
            assert_within(row.values[b], np.array([0.0900, 0.2447, 0.6652]), 5e-5, f"{b} {row.label}")
            assert_within(row.values[b].sum(), 1.0, 1e-6, f"{b} {row.label}: the sum")


@pytest.mark.slow
def test_the_cross_entropy_steps_show_the_lessons_example_at_every_level(fresh):
    """The lesson's 3 x 5 example gives its printed 1.8803 at each level, by the lesson's one line and by
    the project's function, in every backend; the level-1 step shows the example's scores and targets."""
    for key in ("loss-onehot", "loss-nll", "loss-fused"):
        rows = {row.label: row for row in extra_rows(fresh, STEPS[STEP_KEYS.index(key)])}
        costs = [label for label in rows if label.startswith("the lesson's one line") or "on the lesson's" in label]
        assert len(costs) == 2, (key, list(rows))
        for label in costs:
            for b in rosetta.ORDER:
                assert round(float(rows[label].values[b]), 4) == 1.8803, (key, label, b)
    text, _ = render_lesson(fresh)
    assert "| 0 | -1.54739, -1.21279, -1.35699, -2.14261, -2.16241 | 4 |" in text
    assert "F.nll_loss(F.log_softmax(z, dim=1), y)" in text and "\nF.cross_entropy(z, y)\n" in text


@pytest.mark.slow
def test_a_stale_lesson_is_caught_and_rounding_is_not(fresh, tmp_path):
    rosetta.write(tmp_path, fresh)
    assert rosetta.check(tmp_path, fresh) == []
    path = tmp_path / "lesson.md"
    md = path.read_text(encoding="utf-8")

    # the text of a step
    path.write_text(md.replace("Softmax turns scores into such probabilities", "Softmax turns scores into odds"))
    (problem,) = rosetta.check(tmp_path, fresh)
    line = next(i for i, x in enumerate(md.splitlines(), 1) if "Softmax turns scores into such probabilities" in x)
    assert problem.startswith(f"{path} is stale: line {line} differs"), problem

    # the printout: NumPy's cost at epoch 1000 a unit of the last digit off is current, 1e-5 off is not
    (line,) = [x for x in md.splitlines() if x.startswith("| 1000 | `")]
    spans = re.findall(r"`([^`]+)`", line)
    numpy_cost = spans[1]

    def with_numpy_cost(cost):
        cells = line.split(" | ")
        cells[2] = f"`{cost}`"
        return md.replace(line, " | ".join(cells))

    path.write_text(with_numpy_cost(f"{float(numpy_cost) + 1e-6:.6g}"))
    assert rosetta.check(tmp_path, fresh) == []
    wrong = f"{float(numpy_cost) + 1e-5:.6g}"
    path.write_text(with_numpy_cost(wrong))
    (problem,) = rosetta.check(tmp_path, fresh)
    assert f"shows {wrong}, the backends now give {numpy_cost}" in problem, problem
