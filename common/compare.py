"""Comparing backends, in NumPy, in one place: the checks that tests and the CLI share.

Every check is an absolute difference against a tolerance from the spec:

- ``expected``: a run's costs at the spec's listed epochs against the expected costs;
- ``costs``: two runs' costs at every epoch;
- ``params``: two runs' final weight and bias;
- ``forward``: two backends' softmax, log_softmax and the three loss levels on the spec's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Iterable

import numpy as np

from .backend import LEVELS, Backend, TrainResult
from .spec import Spec


@dataclass(frozen=True)
class Check:
    """One comparison: ``max_abs`` must be <= ``tolerance``."""

    check: str        # "expected", "costs", "params", "softmax", "log_softmax", "loss:fused", ...
    dtype: str
    a: str            # a run's label, "torch" or "jax:fused"
    b: str            # the other run's label, or "expected"
    max_abs: float
    max_rel: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs)) and self.max_abs <= self.tolerance

    @property
    def headroom(self) -> float:
        """max_abs / tolerance: below 1 passes; 0.1 means ten times room to spare."""
        return self.max_abs / self.tolerance

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        return (f"{verdict} {self.check:<12} {self.dtype:<8} {self.a:>11} vs {self.b:<11} "
                f"max|diff| {self.max_abs:9.3g}  tolerance {self.tolerance:8.3g}  ({self.headroom:.2g} of it)")


def differences(a: Any, b: Any) -> tuple[float, float]:
    """(max absolute, max relative) difference of two arrays, computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a - b)
    both_inf = np.isinf(a) & np.isinf(b) & (a == b)   # -inf == -inf is agreement
    diff = np.where(both_inf, 0.0, diff)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(diff)), float(np.max(rel))


def label(result: TrainResult) -> str:
    return result.backend if result.variant == "lesson" else f"{result.backend}:{result.variant}"


def check_expected(result: TrainResult, spec: Spec) -> Check:
    """The run's costs at epochs 0, every, 2*every, ... against the spec's expected costs."""
    got = result.losses[list(spec.expected_epochs)]
    abs_, rel = differences(got, spec.expected_costs)
    return Check("expected", result.dtype, label(result), "expected", abs_, rel,
                 spec.tolerance(result.dtype).expected_cost)


def check_pair(a: TrainResult, b: TrainResult, spec: Spec) -> list[Check]:
    """Two runs of the same dtype: every cost, and the final parameters."""
    tol = spec.tolerance(a.dtype)
    cost_abs, cost_rel = differences(a.losses, b.losses)
    w_abs, w_rel = differences(a.weight, b.weight)
    b_abs, b_rel = differences(a.bias, b.bias)
    return [
        Check("costs", a.dtype, label(a), label(b), cost_abs, cost_rel, tol.cost),
        Check("params", a.dtype, label(a), label(b), max(w_abs, b_abs), max(w_rel, b_rel), tol.param),
    ]


def forward_outputs(backend: Backend, spec: Spec) -> dict[str, np.ndarray]:
    """softmax, log_softmax and the three loss levels of the spec's initial model on its data."""
    dtype = backend.np_dtype
    logits = spec.x_train.astype(dtype) @ spec.init_weight.astype(dtype).T + spec.init_bias.astype(dtype)
    out = {"softmax": backend.softmax(logits), "log_softmax": backend.log_softmax(logits)}
    for level in LEVELS:
        out[f"loss:{level}"] = backend.cross_entropy(logits, spec.y_train, level=level)
    return out


def check_forward(outputs: dict[str, dict[str, np.ndarray]], spec: Spec, dtype: str) -> list[Check]:
    """Every pair of backends' forward outputs (from ``forward_outputs``), one check per output."""
    tol = spec.tolerance(dtype).output
    checks = []
    for a, b in combinations(outputs, 2):
        for key in outputs[a]:
            abs_, rel = differences(outputs[a][key], outputs[b][key])
            checks.append(Check(key, dtype, a, b, abs_, rel, tol))
    return checks


def check_runs(results: Iterable[TrainResult], spec: Spec) -> list[Check]:
    """Each run against the expected costs, and every pair of runs of the same dtype."""
    results = list(results)
    checks = [check_expected(r, spec) for r in results if spec.expected_costs]
    for a, b in combinations(results, 2):
        if a.dtype == b.dtype:
            checks.extend(check_pair(a, b, spec))
    return checks
