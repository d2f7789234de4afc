"""Comparing backends, in NumPy, in one place: the checks that tests and the CLI share.

Every check is an absolute difference against a tolerance from the spec: for ``costs``, ``params`` and the
forward checks, the derived rounding envelope where the spec's ``tolerance_source(dtype)`` is "derived"
(``envelopes.in_force``: the stored table, or derived now), its hand-set ``[tolerance.DTYPE]`` otherwise;
``expected`` and ``accuracy`` are always hand-set:

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
from .deviation import Deviation, deviation, differences  # noqa: F401  (Deviation, deviation: first here)
from .envelopes import HAND_SET, InForce, in_force, in_force_all, worst_epoch
from .results import TrainResult
from .spec import Spec


@dataclass(frozen=True)
class Check:
    """One comparison: ``max_abs`` must be <= ``tolerance``.

    source: "derived" (``tolerance`` is the rounding envelope) or "hand-set" (the spec's number). A derived
    ``costs`` check holds each epoch to its own envelope: ``epoch`` is where difference / envelope peaks, and
    ``max_abs`` and ``tolerance`` are that epoch's (``max_rel``: over every epoch).
    """

    check: str  # "expected", "costs", "params", "softmax", "log_softmax", "loss:fused", ...
    dtype: str
    a: str  # a run's label, "torch" or "jax:fused"
    b: str  # the other run's label, or "expected"
    max_abs: float
    max_rel: float
    tolerance: float
    source: str = HAND_SET
    epoch: int | None = None

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
            "source": self.source,
            "epoch": self.epoch,
        }

    def line(self) -> str:
        if self.check == "diverged":
            return (
                f"FAIL diverged     {self.dtype:<8} {self.a:>11} {self.b}: its cost turned inf or nan; training stopped"
            )
        verdict = "ok  " if self.passed else "FAIL"
        limit = "envelope " if self.source != HAND_SET else "tolerance"
        at = f" at epoch {self.epoch}" if self.epoch is not None else ""
        return (
            f"{verdict} {self.check:<12} {self.dtype:<8} {self.a:>11} vs {self.b:<11} "
            f"max|diff| {self.max_abs:9.3g}  {limit} {self.tolerance:8.3g}  ({self.headroom:.2g} of it){at}"
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


def check_pair(a: TrainResult, b: TrainResult, spec: Spec, tolerances: InForce | None = None) -> list[Check]:
    """Two runs of the same dtype: every cost, and the final parameters; ``tolerances``: the dtype's
    ``envelopes.in_force`` (None: the spec's, found now)."""
    held = tolerances if tolerances is not None else in_force(spec, a.dtype)
    cost_abs, cost_rel = differences(a.costs, b.costs)
    w_abs, w_rel = differences(a.weight, b.weight)
    b_abs, b_rel = differences(a.bias, b.bias)
    params = (max(w_abs, b_abs), max(w_rel, b_rel))
    if not held.derived:
        tol = spec.tolerance(a.dtype)
        return [
            Check("costs", a.dtype, label(a), label(b), cost_abs, cost_rel, tol.cost),
            Check("params", a.dtype, label(a), label(b), *params, tol.param),
        ]
    diff = np.abs(np.asarray(a.costs, np.float64) - np.asarray(b.costs, np.float64))
    envelope = held.costs
    if diff.shape != envelope.shape:
        raise ValueError(f"{label(a)}: {diff.size} costs, the {a.dtype} envelope has {envelope.size} epochs")
    epoch = worst_epoch(diff, envelope)
    return [
        Check(
            "costs",
            a.dtype,
            label(a),
            label(b),
            float(diff[epoch]),
            cost_rel,
            float(envelope[epoch]),
            held.source,
            epoch,
        ),
        Check("params", a.dtype, label(a), label(b), *params, held.params, held.source),
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


def check_forward(
    outputs: dict[str, dict[str, np.ndarray]], spec: Spec, dtype: str, tolerances: InForce | None = None
) -> list[Check]:
    """Every pair of backends' forward outputs (from ``forward_outputs``), one check per output; ``tolerances``:
    the dtype's ``envelopes.in_force`` (None: the spec's, found now, where there is a pair to compare)."""
    pairs = list(combinations(outputs, 2))
    held = tolerances if tolerances is not None or not pairs else in_force(spec, dtype)
    checks = []
    for a, b in pairs:
        for key in outputs[a]:
            abs_, rel = differences(outputs[a][key], outputs[b][key])
            if held is not None and held.derived:
                checks.append(Check(key, dtype, a, b, abs_, rel, held.forward[key], held.source))
            else:
                checks.append(Check(key, dtype, a, b, abs_, rel, spec.tolerance(dtype).output))
    return checks


def check_runs(
    results: Iterable[TrainResult],
    spec: Spec,
    accuracy_scale: float | None = None,
    tolerances: dict[str, InForce] | None = None,
) -> list[Check]:
    """Each run against the expected costs, and every pair of runs of the same dtype.

    With ``accuracy_scale`` (the report passes its tolerance scale), each pair's training
    accuracy is checked too. ``tolerances``: {dtype: ``envelopes.in_force``} (a dtype missing: the spec's).
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
            checks.extend(check_pair(a, b, spec, (tolerances or {}).get(a.dtype)))
            if accuracy_scale is not None:
                checks.append(check_accuracy(a, b, spec, accuracy_scale))
    return checks


def compare_all(
    outputs: dict[str, dict[str, dict[str, np.ndarray]]],
    results: Iterable[TrainResult],
    spec: Spec,
    tolerance_scale: float = 1.0,
    tolerances: dict[str, InForce] | None = None,
) -> list[Check]:
    """Every check of the agreement report, in the order of ``CHECK_GROUPS``, then dtype.

    outputs: {dtype: {backend: forward_outputs(...)}}; results: every training run, any dtype.
    tolerances: {dtype: ``envelopes.in_force``}, already scaled (None: the spec's, found now and scaled).
    The tolerances are the spec's (derived or hand-set) times ``tolerance_scale``.
    """
    results = list(results)
    if tolerances is None:
        tolerances = in_force_all(spec, [*outputs, *(r.dtype for r in results)], tolerance_scale)
    spec = scale_tolerances(spec, tolerance_scale)
    checks = []
    for dtype, by_backend in outputs.items():
        checks += check_forward(by_backend, spec, dtype, tolerances.get(dtype))
    checks += check_runs(results, spec, accuracy_scale=tolerance_scale, tolerances=tolerances)
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
