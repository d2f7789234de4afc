"""What a lesson step is made of (lesson_steps.py holds the steps): its text in each language, the
lesson's one-line formula, and the step itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .refs import Numbers


@dataclass(frozen=True)
class Prose:
    """A step's title and paragraphs in one language."""

    title: str
    text: Sequence[str]


@dataclass(frozen=True)
class Formula:
    """The lesson's one line of a step, in each column's framework, and its row in the numbers."""

    step: str  # the step it belongs to: each backend writes it as ``[formulas] STEP`` in its docs.toml
    example: str  # what it runs on: a key of EXAMPLES
    label: str  # its row in the numbers

    @property
    def code(self) -> Mapping[str, str]:
        """backend -> the one line in its framework: an expression of z (and y)."""
        from .base import ORDER
        from .columns import formula

        return {b: formula(b, self.step) for b in ORDER}


@dataclass(frozen=True)
class Step:
    """One step of the lesson."""

    key: str  # the step's name: the notebooks' cell ids
    title: str
    text: Sequence[str]  # paragraphs, in the project's words
    concepts: Sequence[str] = ()  # keys of the concept table, shown in this order
    numbers: Sequence[Numbers] = ()  # the lesson's own rows, shown before the concepts' rows
    printout: bool = False  # ends with the lesson's printed costs and each backend's
    leave_out: Sequence[str] = ()  # blocks of its concepts not shown here, by name (docs/rosetta.md has them)
    ko: Prose | None = None  # the Korean title and text (docs/ko/lesson.md)
    formula: Formula | None = None  # the lesson's one line, shown before the project's function
    tables: Sequence[str] = ()  # data tables after the text: "spec-data", "ce-example"
