"""Building the docs' content: every concept's code from the files and its numbers from the backends."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from softmax_rosetta.registry import BACKENDS, missing_packages
from softmax_rosetta.spec import Spec, load_spec

from .base import DTYPE, ORDER, SPEC, RosettaError
from .columns import code, note, plotted_runs
from .concepts import Concept, concepts
from .context import Context, Runs
from .extract import Block, extract, repo_url
from .why import Why, build_why


@dataclass
class Row:
    """One row of a concept's numbers, computed by every backend."""

    label: str
    kind: str
    values: dict[str, Any]  # backend -> np.ndarray | tuple | str
    tolerance: float  # for the staleness check

    def spread(self) -> float | None:
        """The largest difference between two backends, or None for text."""
        if any(isinstance(v, (str, tuple)) for v in self.values.values()):
            return None
        arrays = [np.asarray(v, dtype=np.float64) for v in self.values.values()]
        if len(arrays) < 2 or len(arrays) != len(self.values) or len({a.shape for a in arrays}) > 1:
            return None
        return float(max(np.max(np.abs(a - b)) if a.size else 0.0 for a in arrays for b in arrays))


@dataclass
class Section:
    """One concept as the docs show it: its code in every backend, and its numbers."""

    concept: Concept
    blocks: dict[str, list[Block]]
    rows: list[Row]


@dataclass
class Rosetta:
    """The docs' content, ready to render."""

    spec: Spec
    sections: list[Section]
    versions: dict[str, str]
    # each column's backend, and "BACKEND VARIANT" for the other runs its docs.toml plots
    # -> each epoch's cost (epochs + 1,)
    costs: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: bool = True
    plot: bytes | None = field(default=None, repr=False)  # the loss plot, drawn once
    narrow_plot: bytes | None = field(default=None, repr=False)  # the same, its panels stacked (phones)
    why: Why | None = None  # "Why the last digits differ": measured with the numbers (why.py)


def build(
    spec: Spec | str = SPEC, *, numbers: bool = True, runs: Runs | None = None, repo: str | None = None
) -> Rosetta:
    """Every concept's code, and (numbers=True) its numbers from every backend, which must be installed.

    runs(backend, variant): the spec's full training run in float32 on the CPU, when the caller
    has one already (the tests' session cache); by default each backend trains here.
    repo: the URL of the repository's files (``extract.repo_url``); each block then links to
    ``{repo}/{path}#L{line}``; by default to ``../{path}#L{line}`` (from docs/).
    """
    spec = load_spec(spec) if isinstance(spec, str) else spec
    url = repo_url(repo) if repo is not None else ""
    table = concepts()
    keys = [c.key for c in table]
    if len(set(keys)) != len(keys):
        raise RosettaError(f"rosetta: two concepts share a key: {keys}")
    blocks = {c.key: _blocks(c, url) for c in table}
    if not numbers:
        sections = [Section(c, blocks[c.key], []) for c in table]
        return Rosetta(spec, sections, {}, numbers=False)

    missing = {b: m for b in ORDER if (m := missing_packages(b))}
    if missing:
        raise RosettaError(
            "rosetta: the numbers need every backend; not installed: "
            + "; ".join(f"{b} (needs {', '.join(m)}: {BACKENDS[b].install})" for b, m in missing.items())
        )
    contexts = {b: Context(b, spec, runs=runs) for b in ORDER}
    sections = [Section(c, blocks[c.key], _rows(c, contexts, spec)) for c in table]
    versions: dict[str, str] = {}
    for ctx in contexts.values():
        versions.update(ctx.be.versions())
    costs = {b: ctx.run().costs for b, ctx in contexts.items()}
    for backend in ORDER:  # the other runs a backend's docs.toml asks the plot to draw
        for variant in plotted_runs(backend):
            costs[f"{backend} {variant}"] = contexts[backend].run(variant=variant).costs
    return Rosetta(spec, sections, versions, costs, why=build_why(spec, costs))


def _blocks(concept: Concept, url: str = "") -> dict[str, list[Block]]:
    """The concept's code in every backend; the concept must have a note and numbers."""
    has_note = concept.note.strip() or any(note(b, concept.key, "en") for b in ORDER)
    if not has_note or not concept.numbers:
        raise RosettaError(f"rosetta: concept {concept.key!r} needs a note (its own or a backend's) and numbers")
    where = f"concept {concept.key!r}, "
    return {b: [replace(extract(b, r, where=where), url=url) for r in code(b, concept.key)] for b in ORDER}


def _rows(concept: Concept, contexts: dict[str, Context], spec: Spec) -> list[Row]:
    """The concept's numbers, computed by every backend."""
    tol = spec.tolerance(DTYPE)
    rows = []
    for n in concept.numbers:
        values = {}
        for b, ctx in contexts.items():
            try:
                fn = n.for_backend(b)
            except KeyError:
                raise RosettaError(f"rosetta: concept {concept.key!r}, numbers {n.label!r}: nothing for {b}") from None
            try:
                values[b] = ctx.to_numpy(fn(ctx))
            except RosettaError:
                raise
            except Exception as exc:
                raise RosettaError(
                    f"rosetta: concept {concept.key!r}, numbers {n.label!r}, {b}: {type(exc).__name__}: {exc}"
                ) from exc
        rows.append(Row(n.label, n.kind, values, 0.0 if n.kind == "exact" else getattr(tol, n.kind)))
    return rows
