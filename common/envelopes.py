"""Which tolerances the agreement checks hold each dtype to, and where they came from.

A spec's ``tolerance_source(dtype)`` says "derived" (the rounding envelope of ``softmax_rosetta.tolerances``:
how far two correct implementations may differ through rounding alone) or "hand-set" (its
``[tolerance.DTYPE]`` numbers). For "derived", ``in_force`` takes the spec's stored
``[tolerance.derived.DTYPE]`` table when its fingerprint matches the spec (``tolerances.fingerprint``: the
data, initial parameters, optimizer, epochs, batches and dtype it was derived from), and derives the
envelope now otherwise (seconds): the table is absent, stale (the spec was edited, or ``Spec.replace``
changed its training), or unverifiable (written before fingerprints). Either way ``InForce`` says which,
in words the report prints.

The ``expected`` and ``accuracy`` checks are not rounding envelopes (docs/tolerances.md): they stay hand-set.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .spec import Spec, SpecError
from .spec_derived import DerivedTolerance
from .tolerances import Envelope, cost_at, derive, fingerprint

DERIVED, HAND_SET = "derived", "hand-set"
STORED, DERIVED_NOW = "stored", "derived now"


@dataclass(frozen=True)
class InForce:
    """The tolerances one dtype's checks use.

    source: "derived" or "hand-set" (the spec's ``tolerance_source``);
    origin: for derived, "stored" (the spec's table, fingerprint checked) or "derived now"; "hand-set" else;
    why: where they came from, in words: the table's ``source`` line, or why the envelope was derived now;
    forward, checkpoints, params: the envelopes (derived only; see ``tolerances.Envelope``), times ``scale``.
    """

    dtype: str
    source: str
    origin: str
    why: str
    forward: dict[str, float] = field(default_factory=dict)
    checkpoints: tuple[tuple[int, float], ...] = ()
    params: float = 0.0
    scale: float = 1.0
    seconds: float = 0.0  # how long deriving it now took (0 when stored or hand-set)

    @property
    def derived(self) -> bool:
        return self.source == DERIVED

    @property
    def costs(self) -> np.ndarray:
        """(epochs + 1,) each epoch's cost envelope (derived only)."""
        return cost_at(self.checkpoints)

    def scaled(self, factor: float) -> InForce:
        """Every envelope times ``factor`` (compare's ``--tolerance-scale``)."""
        if factor == 1 or not self.derived:
            return replace(self, scale=self.scale * factor)
        return replace(
            self,
            forward={k: v * factor for k, v in self.forward.items()},
            checkpoints=tuple((e, v * factor) for e, v in self.checkpoints),
            params=self.params * factor,
            scale=self.scale * factor,
        )

    def smallest(self) -> float:
        """The smallest envelope (inf for hand-set): what a ``--tolerance-scale`` must not underflow."""
        values = [*self.forward.values(), *(v for _, v in self.checkpoints), self.params] if self.derived else []
        return min(values, default=float("inf"))

    def line(self) -> str:
        """ "float32: derived envelopes, stored in the spec (softmax-rosetta tolerances seed --write (...))"."""
        if not self.derived:
            return f"{self.dtype}: hand-set tolerances ({self.why})"
        if self.origin == STORED:
            return f"{self.dtype}: derived envelopes, stored in the spec ({self.why})"
        return f"{self.dtype}: derived envelopes, derived now ({self.seconds:.1f} s): {self.why}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "origin": self.origin, "why": self.why, "scale": self.scale}
        if self.derived:
            out.update(
                {
                    **self.forward,
                    "params": self.params,
                    "cost_epochs": [e for e, _ in self.checkpoints],
                    "cost_envelopes": [v for _, v in self.checkpoints],
                }
            )
        return out


def stored(spec: Spec, dtype: str) -> tuple[DerivedTolerance | None, str]:
    """(the spec's table for ``dtype``, "") when its fingerprint matches the spec; else (None, why not)."""
    table = spec.derived_tolerances.get(dtype)
    if table is None:
        return None, f"the stored envelope is absent (the spec has no [tolerance.derived.{dtype}] table)"
    if not table.fingerprint:
        return None, "the stored envelope is unverifiable (its table has no fingerprint: written before fingerprints)"
    if table.cost_epochs[-1] != spec.epochs:
        return (
            None,
            f"the stored envelope is stale (derived for {table.cost_epochs[-1]} epochs; the spec trains {spec.epochs})",
        )
    if table.fingerprint != fingerprint(spec, dtype):
        return None, (
            "the stored envelope is stale (its fingerprint doesn't match the spec: its data, initial parameters, "
            "optimizer or batches changed since it was derived)"
        )
    return table, ""


_DERIVED_NOW: dict[tuple[str, str], tuple[Envelope, float]] = {}  # {(fingerprint, dtype): (envelope, seconds)}


def derived_now(spec: Spec, dtype: str) -> tuple[Envelope, float]:
    """``derive(spec, dtype)`` and how long it took, once per process for each fingerprint."""
    key = (fingerprint(spec, dtype), dtype)
    if key not in _DERIVED_NOW:
        if len(_DERIVED_NOW) >= 16:
            _DERIVED_NOW.pop(next(iter(_DERIVED_NOW)))
        start = time.perf_counter()
        envelope = derive(spec, dtype)
        _DERIVED_NOW[key] = (envelope, time.perf_counter() - start)
    return _DERIVED_NOW[key]


def in_force(spec: Spec, dtype: str) -> InForce:
    """The tolerances ``dtype``'s checks use (module docstring). Where the envelope can't be derived (the spec's
    float64 reference diverges: ``tolerances.sample_runs``), the hand-set ones, and ``why`` says so."""
    if spec.tolerance_source(dtype) == HAND_SET:
        said = 'its [tolerance] use = "hand-set"' if dtype in spec.derived_tolerances else "it has no derived table"
        return InForce(dtype, HAND_SET, HAND_SET, f"the spec's [tolerance.{dtype}]: {said}")
    table, reason = stored(spec, dtype)
    if table is not None:
        return InForce(
            dtype,
            DERIVED,
            STORED,
            table.source or f"[tolerance.derived.{dtype}]",
            forward=dict(table.forward),
            checkpoints=tuple(zip(table.cost_epochs, table.costs, strict=True)),
            params=table.params,
        )
    try:
        envelope, seconds = derived_now(spec, dtype)
    except SpecError as exc:  # its float64 reference diverges: no rounding envelope; said, and the hand-set instead
        return InForce(
            dtype, HAND_SET, HAND_SET, f"no derived envelope ({exc}); the spec's [tolerance.{dtype}] instead"
        )
    return InForce(
        dtype,
        DERIVED,
        DERIVED_NOW,
        reason,
        forward=dict(envelope.forward),
        checkpoints=envelope.checkpoints,
        params=envelope.params,
        seconds=seconds,
    )


def in_force_all(spec: Spec, dtypes: Iterable[str], scale: float = 1.0) -> dict[str, InForce]:
    """``in_force`` for each dtype, times ``scale``."""
    return {dtype: in_force(spec, dtype).scaled(scale) for dtype in dict.fromkeys(dtypes)}


def worst_epoch(diff: np.ndarray, envelope: np.ndarray) -> int:
    """The epoch where ``diff / envelope`` peaks; the first epoch whose difference is not finite, if any."""
    bad = np.flatnonzero(~np.isfinite(diff))
    if bad.size:
        return int(bad[0])
    return int(np.argmax(diff / envelope)) if diff.size else 0
