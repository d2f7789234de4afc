"""Differences of two arrays (``differences``), and a run's cost trajectory against the reference trajectory
(``deviation``: the float64 NumPy run, in the report; information, not a check). ``softmax_rosetta.compare``
re-exports them, where they were first."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .results import TrainResult


def differences(a: Any, b: Any) -> tuple[float, float]:
    """(max absolute, max relative) difference of two arrays, computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a - b)
    both_inf = np.isinf(a) & np.isinf(b) & (a == b)  # -inf == -inf is agreement
    diff = np.where(both_inf, 0.0, diff)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(diff)), float(np.max(rel))


@dataclass(frozen=True)
class Deviation:
    """A run's cost trajectory against the reference trajectory: information, not a check."""

    run: str
    dtype: str
    max_abs: float
    epoch: int  # where max_abs is
    max_rel: float
    final_abs: float  # at the last epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def deviation(result: TrainResult, reference: np.ndarray) -> tuple[Deviation, np.ndarray]:
    """(summary, |cost - reference cost| per epoch), computed in float64."""
    costs = np.asarray(result.costs, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if costs.shape != ref.shape:
        raise ValueError(f"{result.label}: {costs.shape[0]} costs, the reference has {ref.shape[0]}")
    diff = np.abs(costs - ref)
    if diff.size == 0:
        return Deviation(result.label, result.dtype, 0.0, 0, 0.0, 0.0), diff
    epoch = int(np.nanargmax(diff)) if np.any(np.isfinite(diff)) else 0
    if not np.all(np.isfinite(diff)):
        epoch = int(np.flatnonzero(~np.isfinite(diff))[0])
    _, rel = differences(costs, ref)
    return Deviation(result.label, result.dtype, float(diff[epoch]), epoch, rel, float(diff[-1])), diff
