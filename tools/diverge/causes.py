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
    # a blocked matmul's run: its tiles, each (rows [a, b), columns [c, d), the choices giving its bits)
    blocks: dict[str, tuple[tuple[tuple[int, int], tuple[int, int], dict[str, str]], ...]] = field(default_factory=dict)


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


MAX_TILES = 4
Tile = tuple[tuple[int, int], tuple[int, int], int]  # rows [a, b), columns [c, d), the reference's index


def _blocked(values: np.ndarray, computed: list[tuple[dict[str, str], np.ndarray]]) -> list[tuple[str, Tile]] | None:
    """A matmul whose output tiles come from different kernels (a block of columns, the
    remainder rows, ...): the output cut into rectangles, each given bit for bit by one
    reference, or None where no such cut is found (two cuts deep: columns, then rows in them,
    or rows, then columns). Each tile is named by its rows and columns.

    A cut is a fit, and a fine one could fit noise (with a hundred references, some reference
    gets any one element right), so it must be a kernel's shape: at most ``MAX_TILES`` tiles,
    each at least two rows and two columns (where the output has them). A value perturbed by
    hand in one element is not cut into a fit (tests/test_causes.py).
    """
    if values.ndim != 2:
        return None
    n_rows, n_cols = values.shape
    tiles = _tiles(values, computed, (0, n_rows), (0, n_cols), 2)
    if tiles is None or not 2 <= len(tiles) <= MAX_TILES:
        return None
    for (r0, r1), (c0, c1), _ in tiles:
        if r1 - r0 < min(2, n_rows) or c1 - c0 < min(2, n_cols):
            return None

    def span(what: str, a: int, b: int, whole: int) -> str:
        return "" if (a, b) == (0, whole) else (f"{what} {a}-{b - 1}" if b - a > 1 else f"{what[:-1]} {a}")

    return [
        (", ".join(x for x in (span("rows", *r, n_rows), span("columns", *c, n_cols)) if x), (r, c, k))
        for r, c, k in tiles
    ]


def _tiles(values, computed, rows: tuple[int, int], cols: tuple[int, int], depth: int) -> list[Tile] | None:
    block = values[rows[0] : rows[1], cols[0] : cols[1]]
    for k, (_, v) in enumerate(computed):
        if np.array_equal(v[rows[0] : rows[1], cols[0] : cols[1]], block):
            return [(rows, cols, k)]
    if depth == 0:
        return None
    for axis in (1, 0):
        lo, hi = cols if axis == 1 else rows
        if hi - lo < 2:
            continue

        def line(j: int, v: np.ndarray, axis: int = axis) -> np.ndarray:
            return v[j, cols[0] : cols[1]] if axis == 0 else v[rows[0] : rows[1], j]

        fits = [
            {k for k, (_, v) in enumerate(computed) if np.array_equal(line(j, v), line(j, values))}
            for j in range(lo, hi)
        ]
        groups: list[tuple[int, int, set[int]]] = []  # lines [a, b) that one reference fits, or none fits
        for j, f in zip(range(lo, hi), fits, strict=True):
            last = groups[-1] if groups else None
            if last and ((last[2] & f) or (not last[2] and not f)):
                groups[-1] = (last[0], j + 1, last[2] & f)
            else:
                groups.append((j, j + 1, f))
        if len(groups) < 2:
            continue
        out: list[Tile] = []
        for a, b, _ in groups:
            sub = _tiles(values, computed, (a, b) if axis == 0 else rows, (a, b) if axis == 1 else cols, depth - 1)
            if sub is None:
                break
            out += sub
        else:
            return out
    return None


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
    matches: dict[str, list[int]] = {}
    blocked: dict[str, list[tuple[str, Tile]]] = {}
    for label in labels:
        want = np.asarray(runs[label])
        matches[label] = [k for k, (_, v) in enumerate(computed) if v.shape == want.shape and np.array_equal(v, want)]
        if not matches[label] and quantity in ("logits", "grad_weight"):
            found = _blocked(want, computed)
            if found:
                blocked[label] = found
    shape = np.asarray(runs[labels[0]]).shape
    n = int(np.prod(shape))
    reproduced = tuple(x for x in labels if matches[x] or x in blocked)
    said = {x: f"{x}: {_said(computed[matches[x][0]][0])}: all {n} elements" for x in labels if matches[x]}
    for x, cut in blocked.items():
        said[x] = f"{x}: a blocked matmul, " + "; ".join(f"{name}: {_said(computed[t[2]][0])}" for name, t in cut)
    if len(reproduced) == 2:
        # each element's reference in each run; the cause: the choices that differ between them
        def where(x: str, k: int) -> np.ndarray:
            out = np.full(shape, k)
            for _, ((r0, r1), (c0, c1), ref) in blocked.get(x, []):
                out[r0:r1, c0:c1] = ref
            return out

        def differing(ka: int, kb: int) -> list[str]:
            pairs = set(zip(where(a, ka).ravel().tolist(), where(b, kb).ravel().tolist(), strict=True))
            ax = [k for k in experiment.axes if any(computed[i][0][k] != computed[j][0][k] for i, j in pairs)]
            return ax

        a, b = labels
        textbook = {k: o[0] for k, o in experiment.axes.items()}
        ka, kb = min(
            ((i, j) for i in matches[a] or [-1] for j in matches[b] or [-1]),
            key=lambda p: (len(differing(*p)), sum(computed[p[0]][0][k] != textbook[k] for k in textbook)),
        )
        axes = differing(ka, kb)
        cause = _cause(axes, computed[ka][0], computed[kb][0])
        choices = {
            x: ({name: _said(computed[t[2]][0]) for name, t in blocked[x]} if x in blocked else computed[k][0])
            for x, k in ((a, ka), (b, kb))
        }
        if not blocked:
            ca, cb = computed[ka][0], computed[kb][0]
            changed = " and ".join(f"[{words(k, ca[k])}] to [{words(k, cb[k])}]" for k in axes)
            detail = (
                f"NumPy reference ({_said(ca)}) gives {a}'s bits, all {n} elements; changing {changed} "
                f"gives {b}'s bits, all {n} elements ({len(computed)} references tried)"
            )
        else:
            cause += " (a blocked matmul: another kernel for some of the output)"
            detail = "; ".join(said[x] for x in labels) + f" ({len(computed)} references tried)"
            detail += "; where the two differ, their references differ in: " + ", ".join(axes)
        if len(axes) > 1:
            detail += f"; no reference changed in only one of these {len(axes)} choices gives both"
        tiles = {x: tuple((r, c, computed[k][0]) for _, (r, c, k) in cut) for x, cut in blocked.items()}
        return Explanation(
            quantity, cause, detail, reproduced, choices, tried=tried, combinations=len(computed), blocks=tiles
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
    choices = {x: computed[matches[x][0]][0] for x in labels if matches[x]}
    return Explanation(quantity, None, detail, reproduced, choices, tried=tried, combinations=len(computed))
