"""Why two runs first part: one choice of the step changed in a NumPy reference, until it gives the other run's bits.

At the first difference (first.py) every earlier quantity of the step is bit-identical in both
runs, so the differing operation had the same inputs in both. ``explain`` recomputes that
operation in NumPy, in the run's dtype, once per candidate choice (another summation order, the
bias added inside the matmul, log of softmax against log_softmax, a fused multiply-add, ...), and
names a cause only where a changed reference reproduces a run's bits exactly: every element. No
cause is named without that demonstration.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cause_ops import Experiment, experiments, words


@dataclass(frozen=True)
class StepInputs:
    """What one step starts from, the same bits in both runs (the step is their first difference)."""

    dtype: str
    step: int
    epoch: int
    x: np.ndarray  # the step's batch, (B, D), in dtype
    y: np.ndarray  # its labels, (B,), int64
    weight: np.ndarray  # the parameters before the step, (C, D) and (C,), in dtype
    bias: np.ndarray
    lr: float
    options: dict[str, Any] = field(default_factory=dict)  # momentum, dampening, nesterov, weight_decay


@dataclass(frozen=True)
class Explanation:
    quantity: str  # the first differing quantity, a name of softmax_rosetta.trace.QUANTITIES
    cause: str | None  # a short name of the demonstrated cause; None: not identified
    detail: str  # what was changed in the NumPy reference and whose bits it then gave, or what was tried
    reproduces: tuple[str, ...] = ()  # the runs whose bits a changed reference reproduced exactly
    # each reproduced run's choices, axis -> option (a blocked matmul: "columns i-j" -> its choices' words)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)
    tried: tuple[str, ...] = ()  # the axes tried, each "axis: option | option | ..."
    combinations: int = 0  # how many references were computed


# The cause's short name when one axis's options differ between the two runs' references.
CAUSES = {
    "products": "a contracted multiply-add (FMA) in the matmul's sums",
    "lanes": "the matmul's blocking (its sums split into partial sums, added in another order)",
    "lane_sum": "the matmul's blocking (its sums split into partial sums, added in another order)",
    "bias": "the bias added inside the matmul's sum",
    "exp": "exp from another math library",
    "log": "log from another math library",
    "max": "the max subtracted or not",
    "sum": "the softmax's sum in another order",
    "normalise": "division against multiplying by the reciprocal",
    "mean": "the mean as a division against a multiplication by 1 / n",
    "mean_sum": "the mean's sum in another order",
    "row_sum_order": "the gradient's row sum in another order",
    "per_row": "the fused loss's form (log_softmax against logsumexp - z_y)",
    "dz": "the gradient at the logits written another way",
    "update": "a contracted multiply-add (FMA) in the SGD update",
}


def _cause(axes: list[str], a: dict[str, str], b: dict[str, str]) -> str:
    names = []
    for axis in axes:
        if axis == "form" and "log(softmax)" in (a.get(axis), b.get(axis)):
            names.append("log of softmax against log_softmax")
        else:
            names.append(CAUSES.get(axis, axis))
    return " and ".join(dict.fromkeys(names))


def _candidates(experiment: Experiment, modelled: bool) -> list[dict[str, str]]:
    if not modelled:
        return []
    names = list(experiment.axes)
    combos = (dict(zip(names, c, strict=True)) for c in itertools.product(*experiment.axes.values()))
    return [c for c in combos if not experiment.skip(c)]


def _said(choice: dict[str, str]) -> str:
    """The choices in words (one running sum has no partial sums to add: their order is left out)."""
    return "; ".join(words(a, o) for a, o in choice.items() if not (a == "lane_sum" and choice.get("lanes") == "1"))


def _blocked(values: np.ndarray, computed: list[tuple[dict[str, str], np.ndarray]]) -> dict[str, dict[str, str]] | None:
    """A matmul whose output columns come from different kernels: for each column the first
    reference that gives every element of it, grouped into runs of columns; None if a column has none."""
    if values.ndim != 2 or values.shape[1] < 2:
        return None
    per_column = []
    for j in range(values.shape[1]):
        found = next((i for i, (_, v) in enumerate(computed) if np.array_equal(v[:, j], values[:, j])), None)
        if found is None:
            return None
        per_column.append(found)
    blocks: dict[str, dict[str, str]] = {}
    for found, group in itertools.groupby(enumerate(per_column), key=lambda t: t[1]):
        cols = [j for j, _ in group]
        name = f"columns {cols[0]}-{cols[-1]}" if len(cols) > 1 else f"column {cols[0]}"
        blocks[name] = computed[found][0]
    return blocks if len(blocks) > 1 else None


def _modelled(inputs: StepInputs, quantity: str) -> bool:
    """The update experiments are plain SGD's p - lr * g: with weight decay, or momentum after
    the first step (its buffer is g only then), the update is not modelled."""
    if quantity not in ("weight", "bias"):
        return True
    o = inputs.options
    if o.get("weight_decay") or o.get("nesterov"):
        return False
    return not o.get("momentum") or inputs.step == 0


def explain(
    inputs: StepInputs, shared: dict[str, np.ndarray], quantity: str, runs: dict[str, np.ndarray]
) -> Explanation:
    """Why ``runs`` (two labels -> their values of ``quantity`` at this step) differ.

    shared: the step's quantities before ``quantity`` (in ``QUANTITIES`` order), the same in both runs.

    Every combination of the quantity's choices (``cause_ops.experiments``) is computed in the
    run's dtype; a run is reproduced by those that give all its elements bit for bit (a matmul:
    or each block of its output columns by one of them). A cause is named only when both runs
    are reproduced, by two references that differ in the named choices alone.
    """
    labels = list(runs)
    if len(labels) != 2:
        raise ValueError(f"explain: needs two runs, got {len(labels)}")
    table = experiments(inputs.dtype)
    experiment = table.get(quantity)
    if experiment is None:
        return Explanation(quantity, None, f"no experiment for {quantity!r}: not identified")
    tried = tuple(f"{a}: {' | '.join(o)}" for a, o in experiment.axes.items())
    candidates = _candidates(experiment, _modelled(inputs, quantity))
    if not candidates:
        return Explanation(
            quantity, None, f"{quantity}: this step's update (options {inputs.options}) is not modelled: not identified"
        )
    computed = []
    with np.errstate(all="ignore"):
        for choice in candidates:
            computed.append((choice, np.asarray(experiment.run(inputs, shared, **choice))))
    matches: dict[str, list[dict[str, str]]] = {}
    blocked: dict[str, dict[str, dict[str, str]]] = {}
    for label in labels:
        want = np.asarray(runs[label])
        matches[label] = [c for c, v in computed if v.shape == want.shape and np.array_equal(v, want)]
        if not matches[label] and quantity in ("logits", "grad_weight"):
            found = _blocked(want, computed)
            if found:
                blocked[label] = found
    n = int(np.asarray(runs[labels[0]]).size)
    reproduced = tuple(x for x in labels if matches[x] or x in blocked)
    chosen = {x: matches[x][0] for x in labels if matches[x]}
    said = {x: f"{x}: {_said(c)}: all {n} elements" for x, c in chosen.items()}
    for x, blocks in blocked.items():
        said[x] = f"{x}: a blocked matmul, " + "; ".join(f"{k}: {_said(c)}" for k, c in blocks.items())
    if len(reproduced) == 2 and not blocked:
        a, b = labels
        best = min(
            ((ca, cb) for ca in matches[a] for cb in matches[b]),
            key=lambda p: (
                sum(p[0][k] != p[1][k] for k in p[0]),
                sum(p[0][k] != o[0] for k, o in experiment.axes.items()),
            ),
        )
        ca, cb = best
        axes = [k for k in ca if ca[k] != cb[k]]
        changed = "; ".join(f"{k}: {words(k, ca[k])} -> {words(k, cb[k])}" for k in axes)
        detail = (
            f"NumPy reference ({_said(ca)}) gives {a}'s bits, all {n} elements; the same with {changed} "
            f"gives {b}'s bits, all {n} elements ({len(computed)} references tried)"
        )
        if len(axes) > 1:
            detail += f"; no reference changed in only one of these {len(axes)} choices gives both"
        return Explanation(
            quantity, _cause(axes, ca, cb), detail, reproduced, {a: ca, b: cb}, tried=tried, combinations=len(computed)
        )
    if len(reproduced) == 2:
        # one run (at least) is a blocked matmul: its blocks, each against the other run's reference
        single = [x for x in labels if x not in blocked]
        detail = "; ".join(said[x] for x in labels) + f" ({len(computed)} references tried)"
        choices = {x: chosen[x] for x in single}
        choices.update({x: {k: _said(c) for k, c in blocks.items()} for x, blocks in blocked.items()})
        differ: list[str] = []
        if single:
            ref = chosen[single[0]]
            for blocks in blocked.values():
                differ += [k for c in blocks.values() for k in c if c[k] != ref[k]]
        differ = list(dict.fromkeys(differ))
        cause = _cause(differ, {}, {}) if differ else "the matmul's blocking"
        if differ:
            detail += "; the blocks' references differ from the other run's in: " + ", ".join(differ)
        return Explanation(
            quantity,
            f"{cause} (another kernel for some output columns)",
            detail,
            reproduced,
            choices,
            tried=tried,
            combinations=len(computed),
        )
    missing = [x for x in labels if x not in reproduced]
    closest = []
    for x in missing:
        want = np.asarray(runs[x])
        off, choice = min(
            ((int(np.count_nonzero(v != want)) if v.shape == want.shape else n, c) for c, v in computed),
            key=lambda t: t[0],
        )
        closest.append(f"{x}: not reproduced (closest: {_said(choice)}, {off} of {n} elements differ)")
    detail = "; ".join([said[x] for x in reproduced] + closest)
    detail += f"; not identified ({len(computed)} references tried: {'; '.join(tried)})"
    choices = {x: chosen[x] for x in chosen}
    return Explanation(quantity, None, detail, reproduced, choices, tried=tried, combinations=len(computed))
