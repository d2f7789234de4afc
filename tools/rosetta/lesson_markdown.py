"""docs/lesson.md and docs/ko/lesson.md: the lesson's steps (lesson_steps.py), each with the lesson's
one line and its concepts' code in the three backends, and the numbers they compute.

One renderer for both languages: the words come from lesson_steps.py (the steps) and lesson_text.py
(the page's fixed strings, the concepts' notes and the rows' labels in Korean); the code blocks and
the numbers are the same on both pages. ``render_lesson`` returns the page and the tolerance of each
number it prints in its numbers regions, in order, for the staleness check (stale.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from softmax_rosetta.examples import lesson_examples

from . import notes
from .base import DTYPE, ORDER, SHORT, SOURCES, TITLES
from .extract import Block
from .lesson import (
    LESSON_FILE,
    SOURCE,
    SOURCE_KO,
    STEPS,
    Step,
    check_steps,
    extra_rows,
    paragraphs,
    printed_costs,
    prose,
    step_blocks,
    step_sections,
)
from .lesson_text import TEXT_FILE, concept_note, concept_title, label, text
from .markdown import md_anchor
from .numbers import NUMBER, number, spread, value
from .prose import NOT_COMPUTED, region, versions_line
from .run import Rosetta, Row, Section

GENERATED = text("generated", "en", steps=LESSON_FILE, text=TEXT_FILE, table=SOURCES)


class _Numbers:
    """The numbers regions' text, and the tolerance of each number printed in a code span."""

    def __init__(self) -> None:
        self.tolerances: list[float] = []

    def span(self, text: str, tolerance: float) -> str:
        self.tolerances += [tolerance] * len(NUMBER.findall(text))
        return f"`{text}`"


def render_lesson(rosetta: Rosetta, lang: str = "en") -> tuple[str, list[float]]:
    """The page in ``lang`` ("en": docs/lesson.md, "ko": docs/ko/lesson.md), and the tolerances of its
    numbers (in the order the page prints them)."""
    check_steps()
    spec = rosetta.spec
    nums = _Numbers()
    root = _root(lang)
    out = [f"# {text('title', lang)}", "", text("other_language", lang), ""]
    out += [f"<!-- {text('generated', lang, steps=LESSON_FILE, text=TEXT_FILE, table=SOURCES)} -->", ""]
    out += [p + "\n" for p in _intro(rosetta, lang)]
    out += [region("env", versions_line(rosetta) if rosetta.numbers else ""), ""]
    titles = [prose(s, lang).title for s in STEPS] + [text("where_next", lang)]
    out += [text("contents", lang), ""]
    out += [f"{i}. [{t}](#{md_anchor(i, t)})" for i, t in enumerate(titles, 1)] + [""]
    for i, step in enumerate(STEPS, 1):
        out += [f"## {i}. {titles[i - 1]}", ""]
        out += [p + "\n" for p in paragraphs(step, spec, lang)]
        for table in step.tables:
            out += _TABLES[table](rosetta, lang)
        sections = step_sections(rosetta, step)
        if sections:
            out += _code(step, step_blocks(rosetta, step), lang) + _notes(sections, lang)
        if step.numbers or step.formula or sections:  # (numbers=False: the region says they are not computed)
            rows = extra_rows(rosetta, step) + [row for s in sections for row in s.rows]
            out += [text("numbers", lang, spec=spec.name, dtype=DTYPE), ""]
            out += [region("numbers", _table(rows, nums, lang) if rosetta.numbers else NOT_COMPUTED), ""]
        if step.printout:
            out += [text("printout", lang, every=spec.expected_every, spec=spec.name, dtype=DTYPE), ""]
            out += [region("numbers", _printout(rosetta, nums, lang) if rosetta.numbers else NOT_COMPUTED), ""]
    out += [f"## {len(titles)}. {titles[-1]}", ""]
    docs = "" if lang == "en" else "../"  # docs/ from the page
    out += [text(key, lang, docs=docs, root=root) + "\n" for key in _WHERE_NEXT]
    return "\n".join(out).rstrip("\n") + "\n", nums.tolerances


_WHERE_NEXT = ("next_rosetta", "next_notebooks", "next_cli")


def _root(lang: str) -> str:
    """The repository's root, relative to the page: docs/lesson.md, docs/ko/lesson.md."""
    return "../" if lang == "en" else "../../"


def _link(link: str, lang: str) -> str:
    """A block's link, from the page's folder (relative links are made for docs/)."""
    return link if lang == "en" or "://" in link else "../" + link


def _intro(rosetta: Rosetta, lang: str) -> list[str]:
    spec = rosetta.spec
    return [
        text("intro1", lang, source=SOURCE if lang == "en" else SOURCE_KO),
        text("intro2", lang),
        text(
            "intro3",
            lang,
            spec=spec.name,
            n=spec.num_samples,
            d=spec.num_features,
            c=spec.num_classes,
            dtype=DTYPE,
            root=_root(lang),
        ),
    ]


def _data_tables(rosetta: Rosetta, lang: str) -> list[str]:
    """The spec's data and initial parameters, in full (they are the spec's, compared as text)."""
    spec = rosetta.spec
    out = [text("data_head", lang), "|---|---|---|"]
    for i, (x, y) in enumerate(zip(spec.x_train, spec.y_train, strict=True)):
        out.append(f"| {i} | {_list(x, 'exact')} | {int(y)} |")
    out += ["", text("init", lang, source=spec.init_source or spec.init_kind), ""]
    out += [text("init_head", lang), "|---|---|---|"]
    for c, (w, b) in enumerate(zip(spec.init_weight, spec.init_bias, strict=True)):
        out.append(f"| {c} | {_list(w, 'param')} | {number(float(b), 'param')} |")
    return out + [""]


def example_table(lang: str) -> list[str]:
    """The lesson's cross-entropy example as stored (common/data/lesson_examples.toml), compared as text."""
    _, example = lesson_examples()
    rows, cols = example.scores.shape
    out = [text("example", lang, rows=rows, cols=cols), "", text("example_head", lang), "|---|---|---|"]
    for i, (z, y) in enumerate(zip(example.scores, example.targets, strict=True)):
        out.append(f"| {i} | {', '.join(f'{v:.5f}' for v in z)} | {int(y)} |")
    return out + [""]


# The data tables a step may show (Step.tables), after its text.
_TABLES: dict[str, Callable[[Rosetta, str], list[str]]] = {
    "spec-data": _data_tables,
    "ce-example": lambda rosetta, lang: example_table(lang),
}


def _list(values: np.ndarray, kind: str) -> str:
    return ", ".join(number(float(v), kind) for v in values)


def _code(step: Step, blocks: dict[str, list[Block]], lang: str) -> list[str]:
    """Each backend's code for the step, one backend after another: the lesson's one line, then the
    project's function."""
    out = []
    for b in ORDER:
        out += [f"### {TITLES[b]}", ""]
        if step.formula is not None:
            out += [text("one_line", lang), "", "```python", step.formula.code[b], "```", ""]
            out += [text("function", lang), ""]
        for block in blocks[b]:
            where = block_where(block, lang)
            out += [f"[`{block.path}` {where}]({_link(block.link, lang)})", "", "```python", block.code, "```", ""]
    return out


def block_where(block: Block, lang: str = "en") -> str:
    """Where a block is in its file: "line 16: `softmax`", or "lines 3 to 9, in `train`"."""
    if block.part:
        return text("lines", lang, line=block.line, end=block.end_line, name=block.name)
    return text("line", lang, line=block.line, name=block.name)


def _notes(sections: Sequence[Section], lang: str) -> list[str]:
    def note(s: Section, head: str) -> list[str]:
        return notes.markdown(head, concept_note(s.concept.key, s.concept.note, lang), s.concept, lang)

    if len(sections) == 1:
        return note(sections[0], text("differs", lang, note="").rstrip())
    return [
        line
        for s in sections
        for line in note(
            s, text("differs_titled", lang, title=concept_title(s.concept.key, s.concept.title, lang), note="").rstrip()
        )
    ]


def _table(rows: Sequence[Row], nums: _Numbers, lang: str) -> str:
    lines = [
        "| | " + " | ".join(SHORT[b] for b in ORDER) + f" | {text('largest', lang)} |",
        "|---|" + "---|" * len(ORDER) + "---|",
    ]
    for row in rows:
        cells = [
            v if isinstance(v, str) else nums.span(value(v, row.kind), row.tolerance)
            for v in (row.values[b] for b in ORDER)
        ]
        difference = spread(row)
        last = nums.span(difference, 2 * row.tolerance) if difference is not None else ""
        lines.append(f"| {label(row.label, lang)} | " + " | ".join(cells) + f" | {last} |")
    return "\n".join(lines)


def _printout(rosetta: Rosetta, nums: _Numbers, lang: str) -> str:
    """The lesson's printed costs, each backend's at those epochs, and the largest difference."""
    tol = rosetta.spec.tolerance(DTYPE)
    epochs, costs = printed_costs(rosetta)
    lines = [
        f"| {text('epoch', lang)} | {text('lesson_printed', lang)} | "
        + " | ".join(SHORT[b] for b in ORDER)
        + f" | {text('from_lesson', lang)} |",
        "|---|---|" + "---|" * len(ORDER) + "---|",
    ]
    for i, epoch in enumerate(epochs):
        lesson = float(costs["lesson"][i])
        cells = [nums.span(number(lesson, "cost"), 0.0)]
        cells += [nums.span(number(float(costs[b][i]), "cost"), tol.cost) for b in ORDER]
        worst = max(abs(float(costs[b][i]) - lesson) for b in ORDER)
        cells.append(nums.span("0" if worst == 0 else f"{worst:.2g}", 2 * tol.cost))
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    lines += ["", text("printout_note", lang, tol=f"{tol.expected_cost:g}", dtype=DTYPE)]
    return "\n".join(lines)
