"""notebooks/*.ipynb: the lesson's steps in one backend each, executed, reproducing the lesson's printout,
and current against the code (cells exactly, outputs' numbers within the seed spec's tolerances)."""

import ast
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta.registry import BACKENDS
from softmax_rosetta.spec import load_spec
from softmax_rosetta.testing import assert_within, require_backend
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.rosetta import notebooks as nbs
from softmax_rosetta.tools.rosetta.lesson import STEPS, step_blocks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SPEC = load_spec("seed")
COST_LINE = re.compile(r"^epoch: (\d+) cost: (\S+)$", re.M)


def require_notebook_packages(*packages):
    for p in packages:
        if importlib.util.find_spec(p) is None:
            pytest.skip(f"{p} not installed: pip install 'softmax-rosetta[notebooks]'")


def committed(backend):
    return (NOTEBOOKS / nbs.notebook_name(backend)).read_text(encoding="utf-8")


def cell(notebook_text, cell_id):
    (found,) = [c for c in json.loads(notebook_text)["cells"] if c["id"] == cell_id]
    return found


def printed_costs(notebook_text):
    """The loop cell's printout: (epochs, costs)."""
    out = nbs._output_text(cell(notebook_text, "loop-code"))
    lines = COST_LINE.findall(out)
    return [int(e) for e, _ in lines], np.array([float(c) for _, c in lines])


def assert_reproduces_the_printout(notebook_text, backend):
    epochs, costs = printed_costs(notebook_text)
    assert epochs == list(SPEC.expected_epochs), epochs
    tol = SPEC.tolerance("float32").expected_cost
    assert_within(costs, np.array(SPEC.expected_costs), tol, f"{backend} notebook's printout vs the lesson's")


# --- made from the lesson -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", rosetta.ORDER)
def test_each_notebook_is_the_lessons_steps_in_its_backend(backend):
    require_notebook_packages("nbformat")
    code = rosetta.build(numbers=False)
    nb = nbs.make_notebook(backend, code)
    ids = ["lesson", "install"] + [f"{s.key}-{part}" for s in STEPS for part in ("text", "code")] + ["loop-printout"]
    assert [c.id for c in nb.cells] == ids
    package = BACKENDS[backend].module.rpartition(".")[0]
    others = [b for b in rosetta.ORDER if b != backend]
    for c in nb.cells:
        if c.cell_type == "code":
            tree = ast.parse(c.source)  # valid Python
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module.startswith("softmax_rosetta.backends"):
                    assert node.module.startswith(package + "."), (c.id, node.module)
        assert not any(f"backends/{o}_impl/" in c.source or f"{o}_impl." in c.source for o in others), c.id
    for step in STEPS:
        text = next(c.source for c in nb.cells if c.id == f"{step.key}-text")
        for block in step_blocks(code, step)[backend]:
            assert f"```python\n{block.code}\n```" in text and f"]({block.link})" in text
    loop = next(c.source for c in nb.cells if c.id == "loop-code")
    assert 'print(f"epoch: {epoch} cost: {cost}")' in loop and "log_every=100" in loop


@pytest.mark.parametrize("backend", rosetta.ORDER)
def test_the_committed_notebooks_cells_are_the_lessons_now(backend):
    """Without running anything: every cell's source is what the generator makes now, and the
    written notebook carries no timings or machine-specific metadata."""
    require_notebook_packages("nbformat")
    fresh = nbs.make_notebook(backend, rosetta.build(numbers=False))
    nb = json.loads(committed(backend))
    assert [(c["id"], c["cell_type"], "".join(c["source"])) for c in nb["cells"]] == [
        (c.id, c.cell_type, c.source) for c in fresh.cells
    ], f"regenerate them with: softmax-rosetta notebooks ({backend})"
    assert nb["metadata"] == {"kernelspec": nbs.KERNELSPEC, "language_info": nbs.LANGUAGE_INFO}
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert c["metadata"] == {} and c["outputs"], c["id"]
            assert all(o["output_type"] != "error" for o in c["outputs"]), c["id"]


@pytest.mark.parametrize("backend", rosetta.ORDER)
def test_the_committed_notebooks_reproduce_the_lessons_printout(backend):
    assert_reproduces_the_printout(committed(backend), backend)


# --- stale or current -----------------------------------------------------------------------------


def test_a_stale_notebook_is_caught_and_rounding_is_not():
    text = committed("torch")
    assert nbs.compare_notebook("nb", text, text, SPEC) is None
    nb = json.loads(text)

    def changed(cell_id, edit):
        copy = json.loads(text)
        (c,) = [c for c in copy["cells"] if c["id"] == cell_id]
        edit(c)
        return json.dumps(copy)

    def source(c):
        c["source"] = "".join(c["source"]).replace("print(x_train)", "print(x_train[0])")

    assert nbs.compare_notebook("nb", changed("data-code", source), text, SPEC).startswith(
        "nb is stale: cell 'data-code' differs from the lesson now (committed: 'print(x_train[0])'"
    )

    loop = "".join(cell(text, "loop-code")["outputs"][0]["text"])
    (last,) = re.findall(r"epoch: 1000 cost: (\S+)", loop)

    def cost(value):
        def edit(c):
            c["outputs"][0]["text"] = loop.replace(f"cost: {last}", f"cost: {value}")

        return changed("loop-code", edit)

    # within the seed's cost tolerance (2e-6): another machine's last digits
    assert nbs.compare_notebook("nb", cost(repr(float(last) + 1e-6)), text, SPEC) is None
    problem = nbs.compare_notebook("nb", cost(repr(float(last) + 1e-5)), text, SPEC)
    assert problem.startswith("nb is stale: cell 'loop-code': its output shows") and last in problem, problem

    # integers are exact (the epochs), whitespace is not compared
    def epoch(c):
        c["outputs"][0]["text"] = loop.replace("epoch: 100 ", "epoch: 101 ")

    problem = nbs.compare_notebook("nb", changed("loop-code", epoch), text, SPEC)
    assert "shows 101 where a fresh run gives 100" in problem, problem
    data = "".join(cell(text, "data-code")["outputs"][0]["text"])

    def spaces(c):
        c["outputs"][0]["text"] = data.replace(", ", ",  ")

    assert nbs.compare_notebook("nb", changed("data-code", spaces), text, SPEC) is None

    # a cell more or less
    nb["cells"].pop()
    assert "its cells are not the ones the lesson gives now" in nbs.compare_notebook("nb", json.dumps(nb), text, SPEC)


def test_cli_writes_and_checks(tmp_path, monkeypatch, capsys):
    """The command, with the committed notebooks standing in for a fresh execution (the slow test below
    executes them)."""
    require_notebook_packages("nbformat", "nbclient", "ipykernel")
    monkeypatch.setattr(nbs, "generate", lambda *a, **k: {nbs.notebook_name(b): committed(b) for b in rosetta.ORDER})
    out = tmp_path / "nb"
    assert main(["notebooks", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{b}.ipynb" for b in rosetta.ORDER)
    assert main(["notebooks", "--check", "--out", str(out)]) == 0
    assert "are current" in capsys.readouterr().out
    path = out / "numpy.ipynb"
    path.write_text(path.read_text().replace("## 2. Softmax", "## 2. Softmax!"))
    assert main(["notebooks", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"softmax-rosetta: {path} is stale: cell 'softmax-text'" in err
    assert "regenerate them with: softmax-rosetta notebooks --out" in err


def test_without_the_notebooks_extra_it_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nbs, "_installed", lambda package: package != "nbclient")
    out = tmp_path / "nb"
    assert main(["notebooks", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "softmax-rosetta: error: rosetta: the notebooks need nbclient, which is not installed: "
        "pip install 'softmax-rosetta[notebooks]'\n"
    )
    assert not out.exists()


# --- executed ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_notebooks_run_reproduce_the_lesson_and_the_committed_ones_are_current(tmp_path):
    require_notebook_packages("nbformat", "nbclient", "ipykernel")
    for b in rosetta.ORDER:
        require_backend(b)
    fresh = nbs.generate(cwd=tmp_path)
    assert sorted(fresh) == sorted(nbs.notebook_name(b, lang) for b in rosetta.ORDER for lang in ("en", "ko"))
    for b in rosetta.ORDER:
        for lang in ("en", "ko"):
            name = nbs.notebook_name(b, lang)
            assert_reproduces_the_printout(fresh[name], b)
            problem = nbs.compare_notebook(name, (NOTEBOOKS / name).read_text(encoding="utf-8"), fresh[name], SPEC)
            assert problem is None, f"{problem}\nregenerate them with: softmax-rosetta notebooks"
