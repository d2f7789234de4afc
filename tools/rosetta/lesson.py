"""The lesson's steps (lesson_steps.py: their text in English and Korean, and which concepts of the
table each shows), and what the pages and notebooks compute from them.

docs/lesson.md and docs/ko/lesson.md (``lesson_markdown.py``) and the notebooks (``notebooks.py``)
are made from these steps: the step's text, the lesson's one-line formula, the code of its concepts
as the concept table names it (concepts.py) and their numbers, so all follow the code as
docs/rosetta.md does. A step's text may name the spec's values as ``{lr}``, ``{epochs}``,
``{every}``, ``{first_cost}`` and ``{last_cost}``, and the lesson's printouts as
``{softmax_printed}`` and ``{ce_cost}`` (``facts``).

``numbers``: rows the lesson shows beyond its concepts' (the lesson's own examples);
``printout``: the step ends with the lesson's printed costs next to each backend's;
``leave_out``: pieces of code its concepts name that go beyond the lesson (rosetta.md shows them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from softmax_rosetta.spec import Spec

from .base import DTYPE, ORDER, RosettaError
from .concepts import Numbers, concepts
from .context import Context
from .extract import Block
from .lesson_steps import (
    CROSS_ENTROPY_EXAMPLE,
    EXAMPLES,
    SOFTMAX_EXAMPLE,
    STEPS,
    TABLES,
    Formula,
    Prose,
    Step,
    printed,
)
from .run import Rosetta, Row, Section

__all__ = ["LANGUAGES", "SOURCE", "SOURCE_KO", "STEPS", "Formula", "Prose", "Step"]

# Where the lesson comes from, in one sentence (the README's "The lesson" says the same).
SOURCE = (
    "The lesson comes from study notes, written in Korean, for the PyTorch pre-course of Boostcamp AI Tech "
    "(2021); this project retells it in its own words and code."
)
SOURCE_KO = (
    "이 강의는 부스트캠프 AI Tech(2021) PyTorch 사전 과정을 위해 한국어로 쓴 학습 노트에서 왔으며, 이 "
    "프로젝트가 그 내용을 자신의 말과 코드로 다시 풀어 씁니다."
)
LESSON_FILE = "tools/rosetta/lesson_steps.py"
LANGUAGES = ("en", "ko")  # docs/lesson.md, docs/ko/lesson.md


def facts(spec: Spec) -> dict[str, str]:
    """The spec's values a step's text may name."""
    return {
        "lr": f"{spec.lr:g}",
        "epochs": str(spec.epochs),
        "every": str(spec.expected_every),
        "first_cost": f"{spec.expected_costs[0]:.3g}" if spec.expected_costs else "?",
        "last_cost": f"{spec.expected_costs[-1]:.3g}" if spec.expected_costs else "?",
        "softmax_printed": printed(SOFTMAX_EXAMPLE.printed),
        "ce_cost": printed(np.array(CROSS_ENTROPY_EXAMPLE.printed_cost)),
    }


def prose(step: Step, lang: str = "en") -> Prose:
    """The step's title and text in ``lang`` ("en" or "ko")."""
    if lang == "en":
        return Prose(step.title, step.text)
    if lang == "ko" and step.ko is not None:
        return step.ko
    raise RosettaError(f"rosetta: lesson step {step.key!r} has no text in {lang!r} ({LESSON_FILE})")


def paragraphs(step: Step, spec: Spec, lang: str = "en") -> list[str]:
    """The step's text in ``lang`` with the spec's values filled in."""
    return [p.format(**facts(spec)) for p in prose(step, lang).text]


def step_sections(rosetta: Rosetta, step: Step) -> list[Section]:
    """The sections of the step's concepts, in the step's order (an unknown key is an error)."""
    by_key = {s.concept.key: s for s in rosetta.sections}
    missing = [k for k in step.concepts if k not in by_key]
    if missing:
        known = ", ".join(c.key for c in concepts())
        raise RosettaError(
            f"rosetta: lesson step {step.key!r} shows {', '.join(map(repr, missing))}, which the concept table "
            f"doesn't have (known: {known}; the steps are in {LESSON_FILE})"
        )
    return [by_key[k] for k in step.concepts]


def step_blocks(rosetta: Rosetta, step: Step) -> dict[str, list[Block]]:
    """Each backend's code for the step: its concepts' blocks in order, less ``leave_out``."""
    blocks = {b: [block for s in step_sections(rosetta, step) for block in s.blocks[b]] for b in ORDER}
    names = {block.name for bs in blocks.values() for block in bs}
    unknown = [name for name in step.leave_out if name not in names]
    if unknown:
        raise RosettaError(
            f"rosetta: lesson step {step.key!r} leaves out {', '.join(map(repr, unknown))}, which none of its "
            f"concepts shows ({LESSON_FILE})"
        )
    return {b: [block for block in bs if block.name not in step.leave_out] for b, bs in blocks.items()}


def check_steps(steps: Sequence[Step] = STEPS) -> None:
    """Every step has a key of its own, its title and text in every language (as many paragraphs in
    each), and, where it has a formula, a line for every backend on a known example."""
    keys = [s.key for s in steps]
    if len(set(keys)) != len(keys):
        raise RosettaError(f"rosetta: two lesson steps share a key: {keys} ({LESSON_FILE})")
    for s in steps:
        for lang in LANGUAGES:
            p = prose(s, lang)
            if not p.title.strip() or not p.text or not all(x.strip() for x in p.text):
                raise RosettaError(
                    f"rosetta: lesson step {s.key!r} needs its title and text in {lang!r} ({LESSON_FILE})"
                )
            if len(p.text) != len(s.text):
                raise RosettaError(
                    f"rosetta: lesson step {s.key!r} has {len(s.text)} paragraphs in English and {len(p.text)} "
                    f"in {lang!r} ({LESSON_FILE})"
                )
        unknown = [t for t in s.tables if t not in TABLES]
        if unknown:
            raise RosettaError(
                f"rosetta: lesson step {s.key!r} shows tables {unknown}; known: {TABLES} ({LESSON_FILE})"
            )
        if s.formula is not None and (set(s.formula.code) != set(ORDER) or s.formula.example not in EXAMPLES):
            raise RosettaError(
                f"rosetta: lesson step {s.key!r}: its formula needs a line for each of {', '.join(ORDER)} and an "
                f"example of {', '.join(EXAMPLES)} ({LESSON_FILE})"
            )


def formula_value(ctx: Context, formula: Formula) -> Any:
    """The formula's line for ctx's backend, evaluated in the namespace of the backend's functional.py
    (the framework's names as that file imports them, and its functions) on the example's z and y."""
    z, y = EXAMPLES[formula.example]
    names = dict(vars(ctx.module("functional")))
    names.update(z=ctx.native(z), y=None if y is None else ctx.native(y))
    return eval(formula.code[ctx.name], names)  # our own line, from the backend's docs.toml


def extra_rows(rosetta: Rosetta, step: Step) -> list[Row]:
    """The step's own rows, computed by every backend on the rosetta's spec ([] without numbers)."""
    if not rosetta.numbers or not (step.numbers or step.formula):
        return []
    tol = rosetta.spec.tolerance(DTYPE)
    contexts = {b: Context(b, rosetta.spec) for b in ORDER}
    rows = []
    numbers = list(step.numbers)
    if step.formula is not None:
        formula = step.formula
        # the lesson's one line, then the project's function (the step's last row)
        numbers.insert(max(len(numbers) - 1, 0), Numbers(formula.label, "output", lambda c: formula_value(c, formula)))
    for n in numbers:
        values = {}
        for b, ctx in contexts.items():
            try:
                values[b] = ctx.to_numpy(n.for_backend(b)(ctx))
            except Exception as exc:
                raise RosettaError(
                    f"rosetta: lesson step {step.key!r}, numbers {n.label!r}, {b}: {type(exc).__name__}: {exc}"
                ) from exc
        rows.append(Row(n.label, n.kind, values, 0.0 if n.kind == "exact" else getattr(tol, n.kind)))
    return rows


def printed_costs(rosetta: Rosetta) -> tuple[list[int], dict[str, np.ndarray]]:
    """The epochs the lesson printed, and at those epochs the lesson's costs ("lesson") and each backend's."""
    spec = rosetta.spec
    epochs = list(spec.expected_epochs)
    costs = {"lesson": np.asarray(spec.expected_costs, dtype=np.float64)}
    for b in ORDER:
        run = np.asarray(rosetta.costs[b], dtype=np.float64)
        costs[b] = run[epochs]
    return epochs, costs
