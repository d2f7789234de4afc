"""docs/ko/lesson.md and notebooks/ko/*.ipynb, the lesson in Korean: the same sections, code and numbers
as docs/lesson.md and notebooks/*.ipynb, and every step, note and label in both languages; and the lesson's
one-line formulas, which both languages show, reproduce the lesson's printouts in every backend.

Both pages come from one renderer (lesson_markdown.py); tests/test_rosetta.py checks that the committed
ones are current."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta.examples import DECIMALS, lesson_examples
from softmax_rosetta.spec import load_spec
from softmax_rosetta.testing import require_backend, selected_backends
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.rosetta import notebooks as nbs
from softmax_rosetta.tools.rosetta.concepts import concepts
from softmax_rosetta.tools.rosetta.context import Context
from softmax_rosetta.tools.rosetta.lesson import LANGUAGES, SOURCE, SOURCE_KO, STEPS, check_steps, formula_value, prose
from softmax_rosetta.tools.rosetta.lesson_markdown import render_lesson
from softmax_rosetta.tools.rosetta.lesson_steps import Prose
from softmax_rosetta.tools.rosetta.lesson_text import CONCEPTS_KO, GLOSSARY, LABELS_KO, PAGE, PAGES
from softmax_rosetta.tools.rosetta.markdown import md_anchor
from softmax_rosetta.tools.rosetta.stale import split_numbers

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
SOFTMAX, CROSS_ENTROPY = lesson_examples()
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
FENCE = re.compile(r"```python\n(.*?)\n```", re.S)
REGION = re.compile(r"<!-- numbers -->\n(.*?)\n<!-- /numbers -->", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def committed(lang):
    return (DOCS / PAGES[lang]).read_text(encoding="utf-8")


def structure(page, lang):
    """What must be the same in every language: the headings' levels, the code blocks, the links into the
    repository (from docs/), and each numbers region's numbers and its table's cells but the labels."""
    headings = [line.split(" ", 1)[0] for line in page.splitlines() if line.startswith("#")]
    links = [link for link in LINK.findall(page) if not link.startswith("#") and not link.endswith("lesson.md")]
    if lang != "en":  # the Korean page is one folder deeper, and links the Korean notebooks
        links = [link.removeprefix("../").replace(f"notebooks/{lang}/", "notebooks/") for link in links]
    regions = []
    for region in REGION.findall(page):
        rows = [line.split(" | ")[1:] for line in region.splitlines()[2:] if line.startswith("| ")]
        regions.append(([n for n, _ in split_numbers(region)[1]], rows))
    return {"headings": headings, "code": FENCE.findall(page), "links": links, "numbers": regions}


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_both_languages_have_the_same_sections_code_and_numbers(lang):
    en, other = structure(committed("en"), "en"), structure(committed(lang), lang)
    assert en["headings"].count("##") == len(STEPS) + 1 and en["code"] and en["numbers"]
    for part in en:
        assert other[part] == en[part], f"docs/{PAGES[lang]} and docs/lesson.md differ in their {part}"


def test_the_comparison_catches_a_missing_section_code_block_or_number():
    """The structure above is not vacuous: each kind of drift changes it."""
    ko = committed("ko")
    base = structure(ko, "ko")
    block = FENCE.search(ko).group()
    first_number = re.search(r"`\[?(-?\d\.\d+)", ko[ko.index("<!-- numbers -->") :]).group(1)
    drifted = {
        "headings": ko.replace("\n## 8.", "\n8.", 1),
        "code": ko.replace(block, "", 1),
        "numbers": ko.replace(first_number, "0.5", 1),
    }
    for part, page in drifted.items():
        assert structure(page, "ko")[part] != base[part], part


def test_every_step_note_label_and_string_has_both_languages():
    check_steps()
    for step in STEPS:
        assert isinstance(step.ko, Prose) and len(step.ko.text) == len(step.text), step.key
        assert HANGUL.search(step.ko.title + "".join(step.ko.text)), step.key
    shown = {k for step in STEPS for k in step.concepts}
    assert shown <= set(CONCEPTS_KO), shown - set(CONCEPTS_KO)
    for key, strings in PAGE.items():
        assert set(strings) == set(LANGUAGES), key
    labels = {n.label for c in concepts() if c.key in shown for n in c.numbers}
    labels |= {n.label for step in STEPS for n in step.numbers} | {s.formula.label for s in STEPS if s.formula}
    assert labels <= set(LABELS_KO), labels - set(LABELS_KO)
    with pytest.raises(rosetta.RosettaError, match=r"lesson step 'x' has no text in 'ko'"):
        prose(type(STEPS[0])("x", "X", ["text"]), "ko")


def _spans(text):
    return sorted(re.findall(r"`([^`]+)`", text))


def test_each_step_and_note_names_the_same_code_in_both_languages():
    """A retelling may say things its own way, but it names the same code (every inline code span)."""
    for step in STEPS:
        for en, ko in zip(step.text, step.ko.text, strict=True):
            assert sorted(set(_spans(en))) == sorted(set(_spans(ko))), (step.key, en[:60])
    notes = {c.key: c.note for c in concepts()}
    for key, (_, note) in CONCEPTS_KO.items():
        assert sorted(set(_spans(notes[key]))) == sorted(set(_spans(note))), key


def test_the_korean_terms_have_their_english_beside_their_first_use():
    page = FENCE.sub("", render_lesson(rosetta.build(numbers=False), "ko")[0])
    prose_lines = [
        x for x in page.splitlines() if x and not x.startswith(("#", "|", "<!--")) and not re.match(r"\d+\. \[", x)
    ]
    body = "\n".join(prose_lines)
    for term, english in GLOSSARY.items():
        at = body.find(term)
        assert at >= 0, f"{term} is not used"
        assert body[at + len(term) :].startswith(f"({english}"), f"{term}'s first use: {body[at : at + 40]!r}"


def test_the_korean_page_says_where_the_lesson_comes_from_and_links_only_to_the_repository():
    ko, en = committed("ko"), committed("en")
    assert ko.count(SOURCE_KO) == 1 and SOURCE not in ko
    assert ko.splitlines()[2] == PAGE["other_language"]["ko"] and en.splitlines()[2] == PAGE["other_language"]["en"]
    assert not re.search(r"https?://", ko)
    anchors = {md_anchor(i, s.ko.title) for i, s in enumerate(STEPS, 1)}
    anchors.add(md_anchor(len(STEPS) + 1, PAGE["where_next"]["ko"]))
    for link in LINK.findall(ko):
        target, _, anchor = link.partition("#")
        if not target:
            assert anchor in anchors, link
        else:
            assert (DOCS / "ko" / target).resolve().is_file(), link


# --- the lesson's one-line formulas -------------------------------------------------------------


def printed(values):
    return np.round(np.asarray(values, dtype=np.float64), DECIMALS)


@pytest.mark.slow  # JAX compiles each line: about 6 s
# the backends the pages show (their docs.toml writes the formulas; one declaring docs_column_pending has no column)
@pytest.mark.parametrize("name", [b for b in selected_backends() if b in rosetta.ORDER])
def test_each_one_line_formula_prints_the_lessons_numbers(name):
    """Each framework's one line, as the pages show it, run in its backend: softmax([1, 2, 3]) and the
    cross-entropy example's 1.8803, to the lesson's 4 decimals."""
    require_backend(name)
    ctx = Context(name, load_spec("seed"))
    formulas = [s.formula for s in STEPS if s.formula is not None]
    assert [f.example for f in formulas] == ["softmax", "cross_entropy", "cross_entropy", "cross_entropy"]
    for formula in formulas:
        value = ctx.to_numpy(formula_value(ctx, formula))
        if formula.example == "softmax":
            np.testing.assert_array_equal(printed(value), SOFTMAX.printed)
        else:
            assert value.shape == () and printed(value) == CROSS_ENTROPY.printed_cost, formula.code[name]


# --- the notebooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", rosetta.ORDER)
def test_each_korean_notebook_is_the_english_one_retold(backend):
    """The same cells: code and outputs equal, each text cell in Korean with the same code blocks; and its
    cells are the ones the generator makes now (the outputs are compared by tests/test_notebooks.py)."""
    pytest.importorskip("nbformat", reason="pip install 'softmax-rosetta[notebooks]'")
    en, ko = [json.loads((NOTEBOOKS / nbs.notebook_name(backend, lang)).read_text("utf-8")) for lang in ("en", "ko")]
    assert [(c["id"], c["cell_type"]) for c in ko["cells"]] == [(c["id"], c["cell_type"]) for c in en["cells"]]
    assert ko["metadata"] == en["metadata"]
    for a, b in zip(en["cells"], ko["cells"], strict=True):
        source_a, source_b = "".join(a["source"]), "".join(b["source"])
        if a["cell_type"] == "code":
            assert (source_b, b["outputs"]) == (source_a, a["outputs"]), a["id"]
        else:
            assert HANGUL.search(source_b) and FENCE.findall(source_b) == FENCE.findall(source_a), a["id"]
    fresh = nbs.make_notebook(backend, rosetta.build(numbers=False), "ko")
    assert ["".join(c["source"]) for c in ko["cells"]] == [c.source for c in fresh.cells], (
        "regenerate them with: softmax-rosetta notebooks"
    )
    for link in LINK.findall("".join(ko["cells"][0]["source"])):
        assert (NOTEBOOKS / "ko" / link).resolve().is_file(), link
