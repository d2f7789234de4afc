"""Comparing backends, in NumPy, in one place: the checks that tests and the CLI share.

Every check is an absolute difference against a tolerance from the spec:

- ``expected``: a run's costs at the spec's listed epochs against the expected costs;
- ``costs``: two runs' costs at every epoch;
- ``params``: two runs' final weight and bias;
- ``forward``: two backends' softmax, log_softmax and the three loss levels on the spec's data;
- ``accuracy``: two runs' training accuracy, which must be equal (tolerance half a sample).

A check that can't be made on a spec is not dropped in silence: ``skipped_checks`` says which and why
(``expected``, where the spec lists no expected costs).

``compare_all`` runs every check on the outputs of several backends; ``suspects`` names the
backends that the failing checks point at; ``deviation`` measures a run's cost trajectory
against a reference trajectory (the float64 NumPy run, in the report).
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from .backend import Backend
from .checks import LEVELS
from .results import TrainResult
from .spec import Spec


@dataclass(frozen=True)
class Check:
    """One comparison: ``max_abs`` must be <= ``tolerance``."""

    check: str  # "expected", "costs", "params", "softmax", "log_softmax", "loss:fused", ...
    dtype: str
    a: str  # a run's label, "torch" or "jax:fused"
    b: str  # the other run's label, or "expected"
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

    @property
    def group(self) -> str:
        """The kind of check, for the report's tables: one of ``CHECK_GROUPS``."""
        return group_of(self.check)

    @property
    def backends(self) -> frozenset[str]:
        """The backends this check compares ("jax:fused" is the jax backend), without "expected"."""
        others = (self.b,) if self.check not in ("expected", "diverged") else ()  # b: the costs, or an epoch
        return frozenset(backend_of(x) for x in (self.a, *others))

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "check": self.check,
            "dtype": self.dtype,
            "a": self.a,
            "b": self.b,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "tolerance": self.tolerance,
            "headroom": self.headroom,
            "passed": self.passed,
        }

    def line(self) -> str:
        if self.check == "diverged":
            return (
                f"FAIL diverged     {self.dtype:<8} {self.a:>11} {self.b}: its cost turned inf or nan; training stopped"
            )
        verdict = "ok  " if self.passed else "FAIL"
        return (
            f"{verdict} {self.check:<12} {self.dtype:<8} {self.a:>11} vs {self.b:<11} "
            f"max|diff| {self.max_abs:9.3g}  tolerance {self.tolerance:8.3g}  ({self.headroom:.2g} of it)"
        )


@dataclass(frozen=True)
class SkippedCheck:
    """A check that was not made, and why: neither a pass nor a failure."""

    check: str  # "expected"
    dtype: str
    reason: str

    @property
    def group(self) -> str:
        return group_of(self.check)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "check": self.check, "dtype": self.dtype, "reason": self.reason}

    def line(self) -> str:
        return f"skip {self.check:<12} {self.dtype:<8} {self.reason}"


def skipped_checks(spec: Spec, dtypes: Iterable[str]) -> list[SkippedCheck]:
    """The checks ``check_runs`` can't make on ``spec`` in each dtype, each with its reason: ``expected``
    where the spec lists no expected costs."""
    if spec.expected_costs:
        return []
    where = shlex.quote(spec.path) if spec.path else spec.name
    reason = (
        f"spec {spec.name!r} lists no expected costs ([expected] costs is empty; "
        f"softmax-rosetta expected {where} --write computes them)"
    )
    return [SkippedCheck("expected", dtype, reason) for dtype in dtypes]


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


# The report's tables: (group, title, the checks in it, what is compared).
CHECK_GROUPS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "softmax",
        "Softmax outputs",
        ("softmax", "log_softmax"),
        "softmax and log_softmax of the spec's initial logits, every value",
    ),
    (
        "loss",
        "Loss levels",
        ("loss:onehot", "loss:nll", "loss:fused"),
        "the mean cross-entropy of the initial model, at the lesson's three levels",
    ),
    (
        "trajectory",
        "Training trajectory",
        ("diverged", "costs", "expected"),
        "costs: the cost at every epoch of two runs; expected: a run against the costs the lesson printed; "
        "diverged: a run whose cost turned inf or nan (it stopped there, and is compared no further)",
    ),
    ("params", "Final parameters", ("params",), "the trained weight and bias, every entry"),
    (
        "accuracy",
        "Training accuracy",
        ("accuracy",),
        "the fraction of training samples classified correctly; must be equal (tolerance: half a sample)",
    ),
)


def group_of(check: str) -> str:
    for group, _, names, _ in CHECK_GROUPS:
        if check in names:
            return group
    return "other"


def backend_of(run_label: str) -> str:
    """ "jax:fused" -> "jax"."""
    return run_label.split(":", 1)[0]


def scale_tolerances(spec: Spec, factor: float) -> Spec:
    """The spec with every tolerance multiplied by ``factor`` (< 1 tightens, > 1 loosens)."""
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"tolerance scale must be a finite number > 0, got {factor!r}")
    if factor == 1:
        return spec
    scaled = {
        dtype: dataclasses.replace(
            t,
            expected_cost=t.expected_cost * factor,
            cost=t.cost * factor,
            param=t.param * factor,
            output=t.output * factor,
        )
        for dtype, t in spec.tolerances.items()
    }
    return dataclasses.replace(spec, tolerances=scaled)


def accuracy_tolerance(spec: Spec) -> float:
    """Half a training sample: two accuracies pass only when they are equal."""
    return 0.5 / spec.num_samples


def label(result: TrainResult) -> str:
    return result.label


def check_expected(result: TrainResult, spec: Spec) -> Check:
    """The run's costs at epochs 0, every, 2*every, ... against the spec's expected costs."""
    got = result.costs[list(spec.expected_epochs)]
    abs_, rel = differences(got, spec.expected_costs)
    return Check(
        "expected", result.dtype, label(result), "expected", abs_, rel, spec.tolerance(result.dtype).expected_cost
    )


def check_pair(a: TrainResult, b: TrainResult, spec: Spec) -> list[Check]:
    """Two runs of the same dtype: every cost, and the final parameters."""
    tol = spec.tolerance(a.dtype)
    cost_abs, cost_rel = differences(a.costs, b.costs)
    w_abs, w_rel = differences(a.weight, b.weight)
    b_abs, b_rel = differences(a.bias, b.bias)
    return [
        Check("costs", a.dtype, label(a), label(b), cost_abs, cost_rel, tol.cost),
        Check("params", a.dtype, label(a), label(b), max(w_abs, b_abs), max(w_rel, b_rel), tol.param),
    ]


def check_accuracy(a: TrainResult, b: TrainResult, spec: Spec, scale: float = 1.0) -> Check:
    """Two runs' training accuracy: equal, or the check fails (its tolerance is half a sample)."""
    abs_, rel = differences(a.accuracy, b.accuracy)
    return Check("accuracy", a.dtype, label(a), label(b), abs_, rel, accuracy_tolerance(spec) * scale)


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


def check_runs(results: Iterable[TrainResult], spec: Spec, accuracy_scale: float | None = None) -> list[Check]:
    """Each run against the expected costs, and every pair of runs of the same dtype.

    With ``accuracy_scale`` (the report passes its tolerance scale), each pair's training
    accuracy is checked too.
    """
    results = list(results)
    # A diverged run stopped at its first inf/nan cost: it fails, and comparing its NaNs
    # with other runs would say nothing more.
    checks = [
        Check(
            "diverged", r.dtype, label(r), f"at epoch {r.diverged_at}", math.inf, math.inf, spec.tolerance(r.dtype).cost
        )
        for r in results
        if r.diverged_at is not None
    ]
    results = [r for r in results if r.diverged_at is None]
    checks += [check_expected(r, spec) for r in results if spec.expected_costs]
    for a, b in combinations(results, 2):
        if a.dtype == b.dtype:
            checks.extend(check_pair(a, b, spec))
            if accuracy_scale is not None:
                checks.append(check_accuracy(a, b, spec, accuracy_scale))
    return checks


def compare_all(
    outputs: dict[str, dict[str, dict[str, np.ndarray]]],
    results: Iterable[TrainResult],
    spec: Spec,
    tolerance_scale: float = 1.0,
) -> list[Check]:
    """Every check of the agreement report, in the order of ``CHECK_GROUPS``, then dtype.

    outputs: {dtype: {backend: forward_outputs(...)}}; results: every training run, any dtype.
    The tolerances are the spec's times ``tolerance_scale``.
    """
    spec = scale_tolerances(spec, tolerance_scale)
    checks = []
    for dtype, by_backend in outputs.items():
        checks += check_forward(by_backend, spec, dtype)
    checks += check_runs(results, spec, accuracy_scale=tolerance_scale)
    groups = [group for group, _, _, _ in CHECK_GROUPS]
    names = [name for _, _, group_names, _ in CHECK_GROUPS for name in group_names]

    def rank(c: Check) -> tuple[int, int, str]:
        return (
            groups.index(c.group) if c.group in groups else len(groups),
            names.index(c.check) if c.check in names else len(names),
            c.dtype,
        )

    return sorted(checks, key=rank)  # stable: pairs keep their order


def suspects(checks: Iterable[Check]) -> list[str]:
    """The backends the failing checks point at.

    For each failing check (name and dtype), the backends that take part in every failing
    comparison of that check: with three backends and one of them off, only that one. A
    failing comparison against the expected costs names its own backend. With two backends,
    a disagreement names both (nothing says which is right).
    """
    by_kind: dict[tuple[str, str], list[frozenset[str]]] = {}
    for c in checks:
        if not c.passed:
            by_kind.setdefault((c.check, c.dtype), []).append(c.backends)
    named: set[str] = set()
    for pairs in by_kind.values():
        common = frozenset.intersection(*pairs)
        named |= common if common else frozenset.union(*pairs)
    return sorted(named)


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
        raise ValueError(f"{label(result)}: {costs.shape[0]} costs, the reference has {ref.shape[0]}")
    diff = np.abs(costs - ref)
    if diff.size == 0:
        return Deviation(label(result), result.dtype, 0.0, 0, 0.0, 0.0), diff
    epoch = int(np.nanargmax(diff)) if np.any(np.isfinite(diff)) else 0
    if not np.all(np.isfinite(diff)):
        epoch = int(np.flatnonzero(~np.isfinite(diff))[0])
    _, rel = differences(costs, ref)
    return Deviation(label(result), result.dtype, float(diff[epoch]), epoch, rel, float(diff[-1])), diff
