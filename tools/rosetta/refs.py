"""What the concept table (concepts.py) is made of: references into a backend's code, rows of
numbers, and the concepts themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .computations import Compute


@dataclass(frozen=True)
class Ref:
    """A piece of one backend's code: ``"module:qualified.name"``, optionally only some lines of it.

    lines=(first, last): from the first line containing ``first`` through the next line
    containing ``last`` (both inside the definition), and to the end of the statement that
    line starts.
    """

    target: str
    lines: tuple[str, str] | None = None

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def name(self) -> str:
        return self.target.partition(":")[2]


@dataclass(frozen=True)
class Numbers:
    """One row of a concept's numbers: ``compute(ctx)`` for each backend (or one per backend).

    kind says how closely a regenerated number must match the committed one: a field of the
    spec's ``Tolerance`` ("output", "cost", "param"), or "exact".
    A computation may return an array, a number, a tuple (a shape) or a str (shown as text).
    """

    label: str
    kind: str
    compute: Compute | Mapping[str, Compute]

    def for_backend(self, name: str) -> Compute:
        """The computation for backend ``name`` (KeyError when the row has none for it)."""
        if callable(self.compute):
            return self.compute
        return self.compute[name]


@dataclass(frozen=True)
class Concept:
    """One section of the docs."""

    key: str  # the anchor: docs/rosetta.html#softmax
    title: str
    note: str  # what differs, said of every backend (each backend's own paragraph is in its docs.toml)
    numbers: Sequence[Numbers]
    intro: str = ""  # one line on what the concept is, before the code
