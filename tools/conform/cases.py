"""The cross-entropy case table and its float64 reference: what the conformance kit and the tests share.

One table of cases: each option of F.cross_entropy alone and combined, all-ignored batches, C = 1,
logits of +-1e4 and -inf entries, the three shapes ((N, C), (N, C, d1, ...), unbatched (C,)), class
indices and class probabilities, negative class weights and empty batches; each is run with every
reduction, in float32 and float64. ``reference`` is torch's ATen code written out in float64 NumPy
(tests/test_cross_entropy_options.py checks it against torch wherever torch is installed).

Tolerances, from issue 1: float64 within 1e-12 relative, 1e-12 absolute near zero; float32 within
torch.testing.assert_close's float32 defaults (rtol 1.3e-6, atol 1e-5). nan must meet nan and inf the
same inf: torch gives them for some cases (every target ignored, 0 * -inf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TOLERANCE = {
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "float32": {"rtol": 1.3e-6, "atol": 1e-5},
}  # torch.testing.assert_close, float32
REDUCTIONS = ("mean", "sum", "none")


@dataclass(frozen=True)
class Case:
    name: str
    logits: np.ndarray  # float64 values; cast to the dtype under test
    target: np.ndarray  # int64 class indices, or float64 class probabilities
    options: dict[str, Any] = field(default_factory=dict)  # weight, ignore_index, label_smoothing
    extreme: bool = False  # a probability underflows to 0: log(softmax) is -inf there
    onehot: bool = True  # False: the one-hot level's single sum differs from torch here

    @property
    def soft(self):
        return self.target.dtype.kind == "f"

    def levels(self):
        """The levels that can express this case exactly (the others are tested for their errors)."""
        levels = ["fused"]
        if not self.soft and not self.options.get("label_smoothing"):
            levels.append("nll")
        if self.onehot and not self.extreme:
            levels.append("onehot")  # -log(softmax(z)) takes log 0 where a probability underflows
        return levels

    def args(self, dtype):
        """(logits, target, options) in the dtype under test, as a user would pass them."""
        target = self.target.astype(dtype) if self.soft else self.target
        options = dict(self.options)
        if "weight" in options:
            options["weight"] = np.asarray(options["weight"], dtype=dtype)
        return self.logits.astype(dtype), target, options


def _table():
    rng = np.random.default_rng(2026)
    inf = np.inf
    z = rng.normal(size=(6, 4)) * 2
    y = np.array([0, 3, 1, 2, 3, 0])
    y_ignored = np.array([0, -100, 1, 2, -100, 0])
    w = np.array([0.5, 2.0, 1.0, 0.25])
    w_signed = np.array([0.5, -2.0, 1.0, 0.25])
    soft = rng.dirichlet(np.ones(4), size=6)
    one_hot_soft = np.eye(4)[y]  # probabilities with exact zeros
    # the edge cases keep the shape (6, 4): JAX compiles its ops once per shape
    big = np.array(
        [
            [1e4, 1e4 - 1, -1e4, 0.0],
            [-1e4, -1e4 + 3, 5.0, 1e4 - 0.5],
            [1e4, -1e4, -1e4, -1e4],
            [0.0, 1e4, 1e4, 1e4 - 2],
            [-1e4, -1e4, -1e4, -1e4],
            [1e4, 1e4, 1e4, -1e4],
        ]
    )
    y_big = np.array([0, 3, 1, 2, 2, 3])
    with_inf = np.array(
        [
            [-inf, 2.0, 3.0, 0.5],
            [0.5, -inf, 2.0, -inf],
            [1e4, -1e4, 0.0, -inf],
            [1.0, 2.0, -inf, 0.0],
            [-inf, -inf, -inf, 0.0],
            [-inf, 1e4, 1e4, -1e4],
        ]
    )
    z3 = rng.normal(size=(3, 5, 4)) * 3  # (N, C, d1)
    y3 = rng.integers(0, 5, size=(3, 4))
    y3[0, 1] = y3[2, 3] = -100
    z4 = rng.normal(size=(2, 3, 4, 2))  # (N, C, d1, d2)
    y4 = rng.integers(0, 3, size=(2, 4, 2))
    y4[1, 2, 0] = -100
    soft4 = np.moveaxis(rng.dirichlet(np.ones(3), size=(2, 4, 2)), -1, 1)
    zu = np.array([0.3, -1.2, 2.5, 0.0, 1.1])  # (C,), unbatched
    zl = rng.normal(size=(64, 10)) * 3
    yl = rng.integers(0, 10, size=64)
    yl[::7] = 4
    wl = rng.uniform(0.1, 3.0, size=10)
    all_options = {"weight": w, "ignore_index": -100, "label_smoothing": 0.15}

    cases = [
        Case("2d-default", z, y),
        Case("2d-weight", z, y, {"weight": w}),
        Case("2d-weight-with-a-zero", z, y, {"weight": [0.0, 2.0, 1.0, 0.25]}),
        Case("2d-negative-weight", z, y, {"weight": w_signed}),  # torch takes any finite weight
        Case("2d-negative-weight-smoothing", z, y, {"weight": w_signed, "label_smoothing": 0.2}),
        Case("2d-weights-cancel", z, y_ignored, {"weight": w_signed}),  # sum of w[y] = 0: +-inf and nan
        Case(
            "2d-weights-cancel-smoothing",
            z,
            y_ignored,
            {"weight": w_signed, "label_smoothing": 0.2},
            onehot=False,
        ),  # torch's mean: two terms over 0, inf - inf = nan; the one-hot level's one sum: inf
        Case("soft-negative-weight", z, soft, {"weight": w_signed, "label_smoothing": 0.1}),
        Case("empty-batch", z[:0], y[:0], {"weight": w, "label_smoothing": 0.1}),  # N = 0: mean 0 / 0, "none" empty
        Case("empty-batch-soft", z[:0], soft[:0]),
        Case("3d-empty-d1", z3[:, :, :0], y3[:, :0], {"weight": [1.0, 0.5, 2.0, 0.0, 1.5]}),
        Case("2d-ignore-default-index", z, y_ignored),
        Case("2d-ignore-a-class", z, y, {"ignore_index": 3}),
        Case("2d-ignore-minus-one", z, np.where(y_ignored == -100, -1, y_ignored), {"ignore_index": -1}),
        Case("2d-smoothing", z, y, {"label_smoothing": 0.1}),
        Case("2d-smoothing-1", z, y, {"label_smoothing": 1.0}),
        Case("2d-weight-ignore", z, y_ignored, {"weight": w}),
        Case("2d-weight-smoothing", z, y, {"weight": w, "label_smoothing": 0.3}),
        Case("2d-ignore-smoothing", z, y_ignored, {"label_smoothing": 0.2}),
        Case("2d-all-options", z, y_ignored, all_options),
        Case("2d-all-ignored", z, np.full(6, -100)),
        Case("2d-all-ignored-weight-smoothing", z, np.full(6, -100), all_options),
        Case("2d-counted-weights-all-zero", z, np.array([0, 0, -100, 0, 0, -100]), {"weight": [0.0, 1.0, 1.0, 1.0]}),
        Case(
            "2d-counted-weights-all-zero-smoothing",
            z,
            np.array([0, 0, -100, 0, 0, -100]),
            {"weight": [0.0, 1.0, 1.0, 1.0], "label_smoothing": 0.1},
            onehot=False,
        ),  # torch's mean: nll 0/0 = nan; the one-hot level's one sum: smoothing / 0 = inf
        Case("C1-default", z[:, :1], np.zeros(6, dtype=np.int64)),
        Case("C1-all-options", z[:, :1], np.array([0, -100, 0, 0, 0, 0]), {"weight": [2.0], "label_smoothing": 0.4}),
        Case("soft", z, soft),
        Case("soft-weight", z, soft, {"weight": w}),
        Case("soft-smoothing", z, soft, {"label_smoothing": 0.25}),
        Case("soft-weight-smoothing", z, soft, {"weight": w, "label_smoothing": 0.25}),
        Case("soft-exact-zeros", z, one_hot_soft, {"weight": w}),
        Case("soft-negative-ignore-index-has-no-effect", z, soft, {"ignore_index": -5}),
        Case("big-default", big, y_big, extreme=True),
        Case("big-all-options", big, np.array([0, -100, 1, 2, -100, 3]), all_options, extreme=True),
        Case("big-soft-weight-smoothing", big, soft, {"weight": w, "label_smoothing": 0.1}, extreme=True),
        Case("neg-inf-off-target", with_inf, np.array([1, 2, 0, 3, 3, 1]), extreme=True),
        Case("neg-inf-on-target", with_inf, np.array([0, 2, 1, 3, 0, 3]), extreme=True),  # inf loss, finite gradient
        Case("neg-inf-weight-ignore", with_inf, np.array([0, -100, 0, 1, -100, 2]), {"weight": w}, extreme=True),
        Case("neg-inf-smoothing", with_inf, np.array([1, 2, 0, 3, 3, 2]), {"label_smoothing": 0.1}, extreme=True),
        Case(
            "neg-inf-smoothing-only-in-ignored",
            np.vstack([with_inf[:2], z[:4]]),
            np.array([-100, -100, 0, 3, 1, 2]),
            {"label_smoothing": 0.1, "weight": [1.0, 1.0, 1.0, 0.5]},
        ),  # finite: the ignored row is masked
        Case(
            "neg-inf-smoothing-zero-weight",
            with_inf,
            np.array([1, 2, 0, 3, 3, 1]),
            {"label_smoothing": 0.1, "weight": [0.0, 1.0, 1.0, 1.0]},
            extreme=True,
        ),  # 0 * -inf: nan
        Case("neg-inf-soft", with_inf, one_hot_soft, extreme=True),  # 0 * -inf: nan, as torch
        Case("neg-inf-soft-smoothing", with_inf, soft, {"label_smoothing": 0.2}, extreme=True),
        Case("3d-default", z3, np.where(y3 == -100, 1, y3)),
        Case("3d-all-options", z3, y3, {"weight": [1.0, 0.5, 2.0, 0.0, 1.5], "label_smoothing": 0.2}),
        Case(
            "3d-soft-weight",
            z3,
            np.moveaxis(rng.dirichlet(np.ones(5), size=(3, 4)), -1, 1),
            {"weight": [1.0, 0.5, 2.0, 0.0, 1.5]},
        ),
        Case("4d-all-options", z4, y4, {"weight": [1.0, 3.0, 0.5], "label_smoothing": 0.05}),
        Case("4d-soft-weight-smoothing", z4, soft4, {"weight": [1.0, 3.0, 0.5], "label_smoothing": 0.05}),
        Case("unbatched-default", zu, np.array(2)),
        Case("unbatched-all-options", zu, np.array(4), {"weight": [1.0, 2.0, 0.5, 1.0, 3.0], "label_smoothing": 0.3}),
        Case("unbatched-ignored", zu, np.array(-100), {"weight": [1.0, 2.0, 0.5, 1.0, 3.0]}),
        Case(
            "unbatched-soft-weight-smoothing",
            zu,
            rng.dirichlet(np.ones(5)),
            {"weight": [1.0, 2.0, 0.5, 1.0, 3.0], "label_smoothing": 0.3},
        ),
        Case(
            "large-batch-all-options",
            zl,
            np.where(yl == 4, -100, yl),
            {"weight": wl, "ignore_index": -100, "label_smoothing": 0.1},
        ),
        Case("large-batch-soft-weight", zl, rng.dirichlet(np.full(10, 0.3), size=64), {"weight": wl}),
    ]
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    return cases


CASES = _table()
INDEX_CASES = [c for c in CASES if not c.soft and not c.options.get("label_smoothing")]


# --- the float64 reference: torch's ATen code (aten/src/ATen/native/LossNLL.cpp) written out --
def _log_softmax(z):
    """(..., C) -> log_softmax along the last axis."""
    m = np.max(z, axis=-1, keepdims=True)
    return (z - m) - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _classes_last(x):
    return np.moveaxis(x, 1, -1) if x.ndim > 1 else x


def reference(
    logits,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    *,
    gradient=False,
    log_probs=False,
):
    """F.cross_entropy (or F.nll_loss, with ``log_probs``) in float64, as ATen composes it:
    the weighted nll term plus label smoothing's term, or the probability-target formula.
    With ``gradient``: d (loss, summed for "none") / d input, by the chain rule as autograd runs
    it, through log_softmax's backward: d z = g - softmax(z) * sum(g)."""
    z = _classes_last(np.asarray(logits, dtype=np.float64))
    num_classes = z.shape[-1]
    w = np.ones(num_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    eps = label_smoothing
    lp = z if log_probs else _log_softmax(z)
    g = np.zeros_like(lp)  # d loss / d log_probs
    with np.errstate(divide="ignore", invalid="ignore"):
        if target.dtype.kind == "f":  # cross_entropy_loss_prob_target
            q = _classes_last(np.asarray(target, dtype=np.float64))
            if eps > 0:
                q = q * (1 - eps) + eps / num_classes
            losses = -(lp * q * w).sum(axis=-1)
            scale = 1 / np.float64(losses.size) if reduction == "mean" else 1.0  # no elements: nan, as torch
            value = losses.sum() * scale if reduction != "none" else losses
            g = -(q * w) * scale
        else:  # nll_loss_nd, then cross_entropy_loss_label_smoothing
            nll = np.zeros(target.shape)
            smooth = np.zeros(target.shape)
            total_weight = np.float64(0.0)  # 0 / 0 is nan, as in torch, not an exception
            for i in np.ndindex(target.shape):
                t = int(target[i])
                if t == ignore_index:
                    continue
                nll[i] = -w[t] * lp[i][t]
                smooth[i] = -(lp[i] * w).sum()
                total_weight += w[t]
            if reduction == "none":
                nll_r, smooth_r, scale = nll, smooth, 1.0
            elif reduction == "sum":
                nll_r, smooth_r, scale = nll.sum(), smooth.sum(), 1.0
            else:
                nll_r, smooth_r, scale = nll.sum() / total_weight, smooth.sum() / total_weight, 1 / total_weight
            value = nll_r if eps == 0 else (1 - eps) * nll_r + eps / num_classes * smooth_r
            for i in np.ndindex(target.shape):
                t = int(target[i])
                if t == ignore_index:
                    continue
                g[i][t] += -(1 - eps) * w[t] * scale if eps else -w[t] * scale
                if eps:
                    g[i] += -(eps / num_classes) * w * scale
        if not gradient:
            return np.asarray(value)
        dz = g if log_probs else g - np.exp(lp) * g.sum(axis=-1, keepdims=True)
    return np.moveaxis(dz, -1, 1) if np.ndim(logits) > 1 else dz


def nll_input(logits: np.ndarray) -> np.ndarray:
    """log_softmax(z) in z's dtype, the input the nll_loss cases take."""
    lp = _log_softmax(_classes_last(logits.astype(np.float64)))
    return np.moveaxis(lp, -1, 1).astype(logits.dtype) if logits.ndim > 1 else lp.astype(logits.dtype)
