"""A spec's derived tolerances: ``[tolerance.derived.float32]``, ``[tolerance.derived.float64]``.

Written by ``softmax-rosetta tolerances SPEC --write`` (``softmax_rosetta.tolerances``, Monte Carlo
arithmetic; docs/tolerances.md), read back and validated here, every problem one ``SpecError``
naming the field. The table, per dtype::

    [tolerance.derived.float32]
    source = "softmax-rosetta tolerances seed --write (32 perturbed runs, seed 0, safety factor 8, numpy 2.4.6)"
    samples = 32
    seed = 0
    safety = 8.0
    softmax = 4.2e-07
    log_softmax = 1.9e-06
    "loss:onehot" = 7.6e-07
    "loss:nll" = 7.7e-07
    "loss:fused" = 9.3e-07
    params = 1.4e-05
    cost_epochs = [0, 100, 200, ..., 1000]   # checkpoints: 0, ..., the last epoch it was derived for
    cost_envelopes = [1.5e-06, ...]           # each the largest envelope since the checkpoint before
    fingerprint = "sha256:..."                # of what the envelope depends on (tolerances.fingerprint)

``compare`` checks against it where the spec's ``tolerance.use`` (or, absent, the table's presence) says
"derived" and the fingerprint matches the spec; a table without one (written before fingerprints) is
read but unverifiable, and one whose fingerprint or epochs don't match is stale: ``compare`` derives the
envelope again (common/envelopes.py). Older tables named the costs ``costs``: still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec_tables import SpecError, check_finite_list, check_int, check_positive_float

FORWARD_CHECKS = ("softmax", "log_softmax", "loss:onehot", "loss:nll", "loss:fused")
FIELDS = (
    "source",
    "samples",
    "seed",
    "safety",
    *FORWARD_CHECKS,
    "params",
    "cost_epochs",
    "cost_envelopes",
    "fingerprint",
)
OPTIONAL = ("fingerprint",)  # tables written before fingerprints have none: read, but unverifiable
OLD_NAMES = {"costs": "cost_envelopes"}  # the first tables' name for the cost envelopes: still read
USES = ("derived", "hand-set")  # [tolerance] use = ...


@dataclass(frozen=True)
class DerivedTolerance:
    """One dtype's derived envelope as the spec stores it (fields: see the module docstring)."""

    forward: dict[str, float]
    params: float
    cost_epochs: tuple[int, ...]
    costs: tuple[float, ...]
    samples: int
    seed: int
    safety: float
    source: str = ""
    fingerprint: str = ""  # "" in a table written before fingerprints: unverifiable

    def cost_per_epoch(self) -> np.ndarray:
        """(epochs + 1,) each epoch's cost envelope: its checkpoint's (the first at or after it)."""
        marks = np.asarray(self.cost_epochs)
        return np.asarray(self.costs)[np.searchsorted(marks, np.arange(marks[-1] + 1))]


def derived_tables(raw: Any, dtypes: tuple[str, ...]) -> dict[str, DerivedTolerance]:
    """``tolerance.derived``: {dtype: DerivedTolerance}, each validated (one derived for other epochs than the
    spec's is read, and stale)."""
    if not isinstance(raw, dict):
        raise SpecError(f"tolerance.derived: expected a table, got {raw!r}")
    out = {}
    for dtype, table in raw.items():
        where = f"tolerance.derived.{dtype}"
        if dtype not in dtypes:
            raise SpecError(f"{where}: unknown dtype {dtype!r}; known: {', '.join(dtypes)}")
        if not isinstance(table, dict):
            raise SpecError(f"{where}: expected a table, got {table!r}")
        out[dtype] = _derived(where, table)
    return out


def tolerance_use(raw: Any) -> str:
    """``tolerance.use``: "derived" or "hand-set"."""
    if raw not in USES:
        raise SpecError(f"tolerance.use: expected one of {', '.join(repr(u) for u in USES)}, got {raw!r}")
    return str(raw)


def _derived(where: str, table: dict[str, Any]) -> DerivedTolerance:
    for old, new in OLD_NAMES.items():
        if old in table:
            if new in table:
                raise SpecError(f"{where}.{old}: the older name of {new}; give one of them")
            table = {(new if k == old else k): v for k, v in table.items()}
    unknown = sorted(table.keys() - set(FIELDS))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: unknown field; known: {', '.join(FIELDS)}")
    for key in FIELDS:
        if key not in table and key not in OPTIONAL:
            raise SpecError(f"{where}.{key}: missing from the spec")
    for key in ("cost_epochs", "cost_envelopes"):
        if not isinstance(table[key], list) or not table[key]:
            raise SpecError(f"{where}.{key}: expected a non-empty list, got {table[key]!r}")
    marks = tuple(check_int(f"{where}.cost_epochs[{i}]", e, 0) for i, e in enumerate(table["cost_epochs"]))
    if marks[0] != 0 or any(b <= a for a, b in zip(marks, marks[1:], strict=False)):
        raise SpecError(f"{where}.cost_epochs: must start at 0 and increase, got {list(marks)}")
    # cost_epochs ending elsewhere than the spec's epochs is a stale table (the spec was edited after it was
    # written), not a broken one: compare derives the envelope again (common/envelopes.py)
    costs = check_finite_list(f"{where}.cost_envelopes", table["cost_envelopes"])
    if len(costs) != len(marks):
        raise SpecError(f"{where}.cost_envelopes: {len(costs)} values for {len(marks)} cost_epochs")
    for i, c in enumerate(costs):
        check_positive_float(f"{where}.cost_envelopes[{i}]", c)
    for key in ("source", "fingerprint"):
        if not isinstance(table.get(key, ""), str):
            raise SpecError(f"{where}.{key}: expected a string, got {table[key]!r}")
    return DerivedTolerance(
        forward={k: check_positive_float(f"{where}.{k}", table[k]) for k in FORWARD_CHECKS},
        params=check_positive_float(f"{where}.params", table["params"]),
        cost_epochs=marks,
        costs=costs,
        samples=check_int(f"{where}.samples", table["samples"], 1),
        seed=check_int(f"{where}.seed", table["seed"], 0),
        safety=check_positive_float(f"{where}.safety", table["safety"]),
        source=table["source"].strip(),
        fingerprint=table.get("fingerprint", "").strip(),
    )
