"""The cause experiments: each quantity of a step recomputed in NumPy with its choices spelled out.

An ``Experiment`` is one operation of the step (the logits' matmul, the softmax, ...) written as
a NumPy function of the step's inputs and its earlier, shared quantities, with keyword arguments
for the choices a framework makes differently (``axes``: each axis's options, the first being
the plain textbook choice). ``causes.explain`` runs every combination and looks for the ones
that give each run's bits.

Every function computes in the run's dtype, rounding each operation as a framework would:
``fma`` (cause_arith) where a multiply-add is contracted, ``sum_terms`` for a chosen order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cause_arith import fma, numpy_sum, rounded, sum_terms

# What each option means, for the report: (axis, option) -> words.
WORDS: dict[tuple[str, str], str] = {
    ("products", "rounded"): "each product rounded, then added",
    ("products", "fused"): "each product added by a fused multiply-add (one rounding)",
    ("products", "float64"): "the whole dot product in float64, rounded once",
    ("bias", "after"): "the bias added after the sum",
    ("bias", "first"): "the sum started from the bias",
    ("exp", "numpy"): "NumPy's exp in the dtype",
    ("exp", "float64"): "exp in float64, rounded to float32",
    ("max", "subtracted"): "the row's max subtracted first",
    ("max", "not subtracted"): "no max subtracted",
    ("normalise", "divide"): "each exp divided by the sum",
    ("normalise", "reciprocal"): "each exp multiplied by 1 / sum",
    ("form", "z - max - log(sum)"): "log_softmax as (z - max) - log(sum exp)",
    ("form", "log(softmax)"): "log_softmax as log(softmax(z))",
    ("form", "z - (max + log(sum))"): "log_softmax as z - (max + log(sum exp))",
    ("log", "numpy"): "NumPy's log in the dtype",
    ("log", "float64"): "log in float64, rounded to float32",
    ("mean", "divide"): "the mean as sum / n",
    ("mean", "reciprocal"): "the mean as sum * (1 / n)",
    ("per row", "log_softmax"): "each row's loss read off log_softmax",
    ("per row", "logsumexp - z_y"): "each row's loss as logsumexp(z) - z_y",
    ("dz", "(p - y) / n"): "dL/dz = (softmax - onehot) / n",
    ("dz", "(p - y) * (1 / n)"): "dL/dz = (softmax - onehot) * (1 / n)",
    ("dz", "p / n - y / n"): "dL/dz = softmax / n - onehot / n",
    ("dz", "exp(ls) / n - y / n"): "dL/dz = exp(log_softmax) / n - onehot / n (log_softmax's backward)",
    ("update", "p - lr * g"): "p - lr * g, the product rounded",
    ("update", "fused"): "p - lr * g by a fused multiply-add",
}
ORDERS = ("left to right", "right to left", "pairwise", "halves")


def words(axis: str, option: str) -> str:
    if (axis, option) in WORDS:
        return WORDS[(axis, option)]
    if axis in ("sum", "mean_sum", "row_sum_order"):
        what = {"sum": "the sum", "mean_sum": "the mean's sum", "row_sum_order": "the row sum"}[axis]
        return f"{what} in np.sum's order (pairwise)" if option == "numpy" else f"{what} {option}"
    if axis == "lane_sum":
        return f"the partial sums added {option}"
    if axis == "lanes":
        return f"{option} interleaved partial sums" if option != "1" else "one running sum"
    return f"{axis}: {option}"


@dataclass(frozen=True)
class Experiment:
    quantity: str
    axes: dict[str, tuple[str, ...]]  # axis -> its options, the first the textbook's
    run: Callable[..., np.ndarray]  # run(inputs, shared, **choice) -> the quantity, in the dtype
    skip: Callable[[dict[str, str]], bool] = lambda choice: False  # a combination equal to another


# --- shared pieces ------------------------------------------------------------------------------
def dot(a: np.ndarray, b: np.ndarray, dt: np.dtype, products: str, lanes: int, lane_sum: str, start=None):
    """a (M, K) times b (K, P), each (m, p) summed over k as chosen: (M, P) in dt.

    lanes: k goes round-robin into that many partial sums (a SIMD register's lanes), which are
    then added in ``lane_sum`` order; start: a (.., P) value lane 0 starts from (the bias).
    """
    k_total = a.shape[1]
    if products == "float64":
        total = a.astype(np.float64) @ b.astype(np.float64)
        return rounded(total if start is None else total + np.asarray(start, np.float64), dt)
    parts: list[Any] = [None] * lanes
    if start is not None:
        parts[0] = np.broadcast_to(np.asarray(start, dt), (a.shape[0], b.shape[1]))
    for k in range(k_total):
        ak, bk = a[:, k, None], b[None, k, :]
        i = k % lanes
        if parts[i] is None:
            parts[i] = rounded(ak * bk, dt)
        elif products == "fused":
            parts[i] = fma(ak, bk, parts[i], dt)
        else:
            parts[i] = rounded(parts[i] + rounded(ak * bk, dt), dt)
    used = [p for p in parts if p is not None]
    return sum_terms(used, lane_sum, dt)


def row_sum(a: np.ndarray, order: str, dt: np.dtype, axis: int) -> np.ndarray:
    """Sum along axis in ``order`` ("numpy": np.sum's own), keeping the axis out."""
    if order == "numpy":
        return numpy_sum(a, axis)
    return sum_terms(list(np.moveaxis(a, axis, 0)), order, dt)


def _exp(s: np.ndarray, how: str, dt: np.dtype) -> np.ndarray:
    return rounded(np.exp(s.astype(np.float64)), dt) if how == "float64" else np.exp(s)


def _log(s: np.ndarray, how: str, dt: np.dtype) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return rounded(np.log(s.astype(np.float64)), dt) if how == "float64" else np.log(s)


def _mean(v: np.ndarray, order: str, how: str, dt: np.dtype) -> np.ndarray:
    total = row_sum(v, order, dt, 0)
    n = np.asarray(v.shape[0], dt)
    return rounded(total / n, dt) if how == "divide" else rounded(total * rounded(np.asarray(1, dt) / n, dt), dt)


def _onehot(inputs, dt):
    y = np.zeros((inputs.y.shape[0], inputs.weight.shape[0]), dt)
    y[np.arange(y.shape[0]), inputs.y] = 1
    return y


# --- the experiments ----------------------------------------------------------------------------
def _logits(inputs, shared, *, products, lanes, lane_sum, bias):
    dt = inputs.x.dtype
    start = inputs.bias if bias == "first" else None
    z = dot(inputs.x, inputs.weight.T, dt, products, int(lanes), lane_sum, start)
    return rounded(z + inputs.bias, dt) if bias == "after" else z


def _softmax(inputs, shared, *, exp, max, sum, normalise):  # noqa: A002 - the axes' names
    z = shared["logits"]
    dt = z.dtype
    s = rounded(z - z.max(axis=1, keepdims=True), dt) if max == "subtracted" else z
    e = _exp(s, exp, dt)
    total = row_sum(e, sum, dt, 1)[:, None]
    if normalise == "divide":
        return rounded(e / total, dt)
    return rounded(e * rounded(np.asarray(1, dt) / total, dt), dt)


def _log_softmax(inputs, shared, *, form, exp, sum, log):  # noqa: A002
    z = shared["logits"]
    dt = z.dtype
    m = z.max(axis=1, keepdims=True)
    s = rounded(z - m, dt)
    if form == "log(softmax)":
        return _log(shared["softmax"], log, dt)
    lse = _log(row_sum(_exp(s, exp, dt), sum, dt, 1)[:, None], log, dt)
    if form == "z - max - log(sum)":
        return rounded(s - lse, dt)
    return rounded(z - rounded(m + lse, dt), dt)


def _loss_onehot(inputs, shared, *, log, mean_sum, mean):
    dt = shared["softmax"].dtype
    rows = np.arange(inputs.y.shape[0])
    per_row = -_log(shared["softmax"][rows, inputs.y], log, dt)
    return _mean(per_row, mean_sum, mean, dt)


def _loss_nll(inputs, shared, *, mean_sum, mean):
    ls = shared["log_softmax"]
    return _mean(-ls[np.arange(inputs.y.shape[0]), inputs.y], mean_sum, mean, ls.dtype)


def _loss_fused(inputs, shared, *, per_row, mean_sum, mean):
    z = shared["logits"]
    dt = z.dtype
    rows = np.arange(inputs.y.shape[0])
    if per_row == "log_softmax":
        losses = -shared["log_softmax"][rows, inputs.y]
    else:
        m = z.max(axis=1)
        lse = rounded(m + np.log(row_sum(np.exp(rounded(z - m[:, None], dt)), "numpy", dt, 1)), dt)
        losses = rounded(lse - z[rows, inputs.y], dt)
    return _mean(losses, mean_sum, mean, dt)


def _dz(inputs, shared, how):
    p = np.exp(shared["log_softmax"]) if how.startswith("exp(ls)") else shared["softmax"]
    dt = p.dtype
    y = _onehot(inputs, dt)
    n = np.asarray(p.shape[0], dt)
    if how == "(p - y) / n":
        return rounded(rounded(p - y, dt) / n, dt)
    if how == "(p - y) * (1 / n)":
        return rounded(rounded(p - y, dt) * rounded(np.asarray(1, dt) / n, dt), dt)
    return rounded(rounded(p / n, dt) - rounded(y / n, dt), dt)  # p / n - y / n, and exp(ls) / n - y / n


def _grad_weight(inputs, shared, *, dz, products, lanes, lane_sum):
    d = _dz(inputs, shared, dz)
    return dot(d.T, inputs.x, d.dtype, products, int(lanes), lane_sum)


def _grad_bias(inputs, shared, *, dz, row_sum_order):
    d = _dz(inputs, shared, dz)
    return row_sum(d, row_sum_order, d.dtype, 0)


def _update(name):
    def run(inputs, shared, *, update):
        p = getattr(inputs, name)
        g = shared[f"grad_{name}"]
        lr = np.asarray(inputs.lr, p.dtype)
        if update == "fused":
            return fma(-lr, g, p, p.dtype)
        return rounded(p - rounded(lr * g, p.dtype), p.dtype)

    return run


LANES = ("1", "2", "4", "8", "16")
DZ = ("(p - y) / n", "(p - y) * (1 / n)", "p / n - y / n", "exp(ls) / n - y / n")
SUMS = ("numpy",) + ORDERS


def _one_lane_once(choice: dict[str, str]) -> bool:
    """With one running sum there are no lanes to add: keep one lane order of the four."""
    return choice.get("lanes") == "1" and choice.get("lane_sum") != ORDERS[0]


def experiments(dtype: str) -> dict[str, Experiment]:
    """The experiments for a run in ``dtype``, by quantity."""
    wide = dtype == "float32"  # "in float64, rounded" is a choice only where float64 is wider
    exp = ("numpy", "float64") if wide else ("numpy",)
    products = ("rounded", "fused", "float64") if wide else ("rounded", "fused")
    matmul = {"products": products, "lanes": LANES, "lane_sum": ORDERS}
    mean = {"mean_sum": SUMS, "mean": ("divide", "reciprocal")}
    table = [
        Experiment("logits", {**matmul, "bias": ("after", "first")}, _logits, _one_lane_once),
        Experiment(
            "softmax",
            {"exp": exp, "max": ("subtracted", "not subtracted"), "sum": SUMS, "normalise": ("divide", "reciprocal")},
            _softmax,
        ),
        Experiment(
            "log_softmax",
            {
                "form": ("z - max - log(sum)", "z - (max + log(sum))", "log(softmax)"),
                "exp": exp,
                "sum": SUMS,
                "log": exp,
            },
            _log_softmax,
        ),
        Experiment("loss:onehot", {"log": exp, **mean}, _loss_onehot),
        Experiment("loss:nll", mean, _loss_nll),
        Experiment("loss:fused", {"per_row": ("log_softmax", "logsumexp - z_y"), **mean}, _loss_fused),
        Experiment(
            "grad_weight",
            {"dz": DZ, **matmul},
            _grad_weight,
            _one_lane_once,
        ),
        Experiment("grad_bias", {"dz": DZ, "row_sum_order": SUMS}, _grad_bias),
        Experiment("weight", {"update": ("p - lr * g", "fused")}, _update("weight")),
        Experiment("bias", {"update": ("p - lr * g", "fused")}, _update("bias")),
    ]
    return {e.quantity: e for e in table}
