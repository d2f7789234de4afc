"""Tolerances derived from the arithmetic: Monte Carlo arithmetic on the float64 NumPy reference.

Two correct implementations of the lesson (torch, JAX, NumPy; another BLAS, a GPU) compute the
same math and differ only in rounding: another summation order, a fused multiply-add, log_softmax
fused or not. How far apart may they end up? ``derive`` answers it per dtype, for every quantity
the agreement report compares (``common/compare.py``'s check names): ``softmax``,
``log_softmax``, ``loss:onehot``, ``loss:nll``, ``loss:fused`` (one number each), ``costs`` (an
envelope per epoch) and ``params`` (the final weight and bias, one number).

The method is Monte Carlo arithmetic (Parker 1997; what Verificarlo and Verrou do): the lesson's
operations are re-run ``samples`` times in float64 with every floating-point result ``x``
replaced by ``x * (1 + d)``, ``d`` uniform in [-u, u] (u = 2**-24 for float32, 2**-53 for
float64: round-to-nearest's relative error bound), exp and log by ``2u`` (vectorised libm
functions are accurate to 1 ulp, not 1/2). A reduction of n terms (a dot product, a sum over the
classes or the rows) is not perturbed term by term, which would take a Python loop per term: to
first order, recursive summation with each partial sum s_k and each product t_j perturbed has
the error sum_k d_k s_k + sum_j e_j t_j, a sum of independent terms of variance
u**2 / 3 * (sum_k s_k**2 + sum_j t_j**2); the reduction's result gets a normal error of that
variance, from its own partial sums (a dot product's from the reference's, sample 0, which differ
from every sample's by O(u)). The recursive (left-to-right) order is the longest chain of
roundings that an implementation uses (NumPy's pairwise sums, BLAS's blocked ones, GPU trees
have shorter ones), and a plain loop (a numba kernel) uses it, so the envelope covers them.
docs/tolerances.md has the measurements behind every constant.

The samples run at once, as a leading batch axis (sample 0 unperturbed, the reference), so the
cost is one reference run on ``samples + 1`` copies. The envelope of a quantity is
``SAFETY * sigma``, sigma the root mean square of (sample - reference) over the samples, for the
element where it is largest (each epoch's cost: the largest of the loss levels, then the largest
since the previous checkpoint). SAFETY is measured: two perturbed runs stand for two
implementations, and it is the largest difference of 256 such pairs, in units of the sigma of 32
samples (docs/tolerances.md). Deterministic: the perturbations come from
``numpy.random.default_rng(seed)`` in a fixed order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import LEVELS
from .spec import DTYPES, Spec, SpecError
from .spec_derived import FORWARD_CHECKS  # the report's names: softmax, log_softmax, loss:LEVEL

UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
SAMPLES = 32  # sigma within about 12% (32 degrees of freedom); every bundled spec, both dtypes, in 2 to 7 s (measured)
SAFETY = 8.0  # >= the largest |a - b| of 256 pairs of runs over sigma from 32, measured worst 7.6 (docs/tolerances.md)
SEED = 0


@dataclass(frozen=True)
class Envelope:
    """How far two correct implementations may differ, for one spec and dtype.

    forward: {check: envelope} for the softmax outputs and the loss levels (``FORWARD_CHECKS``);
    checkpoints: ((epoch, envelope), ...) of the cost at epochs 0, every, 2 * every, ..., the last, each
    the largest since the previous checkpoint (``costs`` spreads them over every epoch);
    params: the final weight and bias.
    """

    spec: str
    dtype: str
    samples: int
    seed: int
    safety: float
    forward: dict[str, float]
    checkpoints: tuple[tuple[int, float], ...]
    params: float
    fingerprint: str = ""  # of what it was derived from (``fingerprint``): a stored table is stale when it differs
    # (steps,) each SGD step's batch loss envelope (the widest level; each the largest over its epoch's steps), for
    # ``diverge``: in mini-batches a step's loss is its batch's mean, not the epoch's cost. Not stored in the spec.
    step_losses: tuple[float, ...] = ()

    @property
    def costs(self) -> np.ndarray:
        """(epochs + 1,) each epoch's cost envelope: its checkpoint's (the first at or after it)."""
        return cost_at(self.checkpoints)

    def table(self, source: str) -> dict[str, Any]:
        """The spec's ``[tolerance.derived.DTYPE]`` table (common/spec_derived.py reads it back)."""
        return {
            "source": source,
            "samples": self.samples,
            "seed": self.seed,
            "safety": self.safety,
            **self.forward,
            "params": self.params,
            "cost_epochs": [e for e, _ in self.checkpoints],
            "cost_envelopes": [v for _, v in self.checkpoints],
            **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "dtype": self.dtype,
            "samples": self.samples,
            "seed": self.seed,
            "safety": self.safety,
            **self.forward,
            "costs": {"epochs": [e for e, _ in self.checkpoints], "max": [v for _, v in self.checkpoints]},
            "params": self.params,
            "fingerprint": self.fingerprint,
        }


def fingerprint(spec: Spec, dtype: str) -> str:
    """sha256 of everything an envelope of ``spec`` in ``dtype`` depends on: the training data and labels and
    the initial weight and bias as the dtype holds them (what the derivation starts from), the optimizer
    (lr, momentum, dampening, nesterov, weight_decay), the epochs, the batches (size, shuffle, its seed) and
    the dtype. Not the name, the comments, the expected costs or the test split: they don't change it."""
    h = hashlib.sha256()
    scalars = {
        "dtype": dtype,
        "lr": spec.lr,
        **spec.optimizer_options,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "shuffle": spec.shuffle,
        "shuffle_seed": spec.shuffle_seed,
    }
    h.update(json.dumps(scalars, sort_keys=True).encode())
    arrays = {"x_train": spec.x_train, "init_weight": spec.init_weight, "init_bias": spec.init_bias}
    for name, arr in [*arrays.items(), ("y_train", spec.y_train)]:
        kind = "<i8" if name == "y_train" else np.dtype(dtype).newbyteorder("<")
        values = np.ascontiguousarray(np.asarray(arr).astype(kind))
        h.update(f"{name}:{values.dtype.str}:{values.shape};".encode())
        h.update(values.tobytes())
    return f"sha256:{h.hexdigest()}"


def checkpoint_every(spec: Spec) -> int:
    """The spec's expected.every, else a tenth of its epochs (at least 1)."""
    return spec.expected_every if spec.expected_costs else max(1, spec.epochs // 10)


def checkpointed(per_epoch: np.ndarray, every: int) -> tuple[tuple[int, float], ...]:
    """(epoch, the largest of ``per_epoch`` since the checkpoint before) at 0, every, 2 * every, ..., the last."""
    last = len(per_epoch) - 1
    marks = sorted({0, *range(every, last, every), last})
    out, start = [], 0
    for mark in marks:
        out.append((mark, float(np.max(per_epoch[start : mark + 1]))))
        start = mark + 1
    return tuple(out)


def cost_at(checkpoints: tuple[tuple[int, float], ...] | list[tuple[int, float]]) -> np.ndarray:
    """(last epoch + 1,) each epoch's envelope from the checkpoints: the first checkpoint's at or after it."""
    marks = np.array([e for e, _ in checkpoints])
    values = np.array([v for _, v in checkpoints])
    return values[np.searchsorted(marks, np.arange(marks[-1] + 1))]


class _Perturbed:
    """The arithmetic of ``samples`` + 1 runs at once: results on axis 0, sample 0 exact (unperturbed)."""

    def __init__(self, dtype: str, samples: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.u = np.full(samples + 1, UNIT_ROUNDOFF[dtype])
        self.u[0] = 0.0

    def _scale(self, x: np.ndarray, ulps: float) -> np.ndarray:
        return (ulps * self.u).reshape((-1,) + (1,) * (x.ndim - 1))

    def r(self, x: np.ndarray, ulps: float = 1.0) -> np.ndarray:
        """One rounded result: x * (1 + d), d uniform in [-ulps * u, ulps * u]."""
        return x * (1.0 + self._scale(x, ulps) * self.rng.uniform(-1.0, 1.0, x.shape))

    def sum(self, t: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
        """sum over ``axis`` with the rounding of its n - 1 partial sums s_k (recursive order): to first order
        a normal error of variance u**2 / 3 * sum_k s_k**2 (module docstring)."""
        partial = np.cumsum(t, axis=axis)
        exact = np.take(partial, [-1], axis=axis)
        squares = np.sum(partial**2, axis=axis, keepdims=True) - np.take(partial, [0], axis=axis) ** 2
        if not keepdims:
            exact, squares = np.squeeze(exact, axis), np.squeeze(squares, axis)
        return exact + self._scale(exact, 1.0) * np.sqrt(squares / 3) * self.rng.standard_normal(exact.shape)

    def contract(self, exact: np.ndarray, terms: np.ndarray, axis: int) -> np.ndarray:
        """A dot product's result (``exact``, every sample) with its rounding: ``terms`` are the products of the
        reference (sample 0), contracted over ``axis``. To first order the error is sum_k d_k s_k over the
        partial sums and sum_j e_j t_j over the products, of variance u**2 / 3 * (sum s_k**2 + sum t_j**2):
        the reference's partial sums stand for every sample's (they differ by O(u))."""
        partial = np.cumsum(terms, axis=axis)
        squares = np.sum(partial**2, axis=axis) - np.take(partial, 0, axis=axis) ** 2 + np.sum(terms**2, axis=axis)
        return exact + self._scale(exact, 1.0) * np.sqrt(squares / 3) * self.rng.standard_normal(exact.shape)


def _forward(p: _Perturbed, x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """softmax, log_softmax, and each loss level's mean (per sample) of the rows x, with perturbed arithmetic."""
    rows = x.shape[0]
    z = p.contract(np.einsum("nk,sck->snc", x, w), x[:, None, :] * w[0], axis=-1)
    z = p.r(z + b[:, None, :])
    shifted = p.r(z - z.max(axis=-1, keepdims=True))
    e = p.r(np.exp(shifted), 2.0)
    total = p.sum(e, axis=-1, keepdims=True)
    log_total = p.r(np.log(total), 2.0)
    probs = p.r(e / total)
    log_probs = p.r(shifted - log_total)
    at = (slice(None), np.arange(rows), y)
    per_row = {
        "onehot": -p.r(np.log(probs[at]), 2.0),
        "nll": -log_probs[at],
        "fused": p.r(log_total[..., 0] - shifted[at]),
    }
    out = {"softmax": probs, "log_softmax": log_probs}
    for level in LEVELS:
        out[f"loss:{level}"] = p.r(p.sum(per_row[level], axis=-1) / rows)
    return out


def _grads(p: _Perturbed, x: np.ndarray, y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW, dL/db of the mean cross-entropy: dz = (softmax - one_hot) / B, then the chain rule."""
    rows = x.shape[0]
    one_hot = np.zeros(probs.shape[1:])
    one_hot[np.arange(rows), y] = 1.0
    dz = p.r(p.r(probs - one_hot) / rows)
    grad_w = p.contract(np.einsum("snc,nk->sck", dz, x), dz[0][:, :, None] * x[:, None, :], axis=0)
    return grad_w, p.sum(dz, axis=1)


def _sgd(p: _Perturbed, param: np.ndarray, g: np.ndarray, buf: np.ndarray | None, spec: Spec, cast: Any):
    """torch.optim.SGD's update (as the NumPy backend's ``SGD.step``), each result rounded."""
    if spec.weight_decay:
        g = p.r(g + p.r(cast(spec.weight_decay) * param))
    if spec.momentum:
        momentum = cast(spec.momentum)
        if buf is None:
            buf = g
        else:
            damped = g if not spec.dampening else p.r(cast(1 - spec.dampening) * g)
            buf = p.r(p.r(momentum * buf) + damped)
        g = p.r(g + p.r(momentum * buf)) if spec.nesterov else buf
    return p.r(param - p.r(cast(spec.lr) * g)), buf


def sample_runs(spec: Spec, dtype: str, samples: int = SAMPLES, seed: int = SEED) -> dict[str, np.ndarray]:
    """The perturbed runs: {check: (samples + 1, ...) values}, sample 0 the unperturbed reference; the forward
    checks (``FORWARD_CHECKS``), "costs" (levels, samples + 1, epochs + 1) at each loss level, "step_losses"
    (levels, samples + 1, steps) each SGD step's batch loss and "step_epochs" (steps,) its epoch, "weight", "bias"."""
    if dtype not in DTYPES:
        raise SpecError(f"dtype: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if samples < 1:
        raise ValueError(f"samples: must be >= 1, got {samples!r}")
    np_dtype = np.dtype(dtype)

    def cast(a: Any) -> Any:
        """A value as the dtype holds it, in float64: every implementation starts from the same inputs."""
        return np.asarray(a, dtype=np_dtype).astype(np.float64)

    x, y = cast(spec.x_train), np.asarray(spec.y_train)
    p = _Perturbed(dtype, samples, seed)
    copies = samples + 1
    w = np.broadcast_to(cast(spec.init_weight), (copies, *spec.init_weight.shape)).copy()
    b = np.broadcast_to(cast(spec.init_bias), (copies, *spec.init_bias.shape)).copy()
    with np.errstate(all="ignore"):
        runs = _forward(p, x, y, w, b)
        costs = np.zeros((len(LEVELS), copies, spec.epochs + 1))
        steps: list[np.ndarray] = []  # each step's batch loss at each level: (levels, copies)
        step_epochs: list[int] = []
        buffers: list[np.ndarray | None] = [None, None]
        for epoch in range(spec.epochs + 1):
            for rows in spec.batches(epoch):
                xb, yb = x[rows], y[rows]
                out = _forward(p, xb, yb, w, b)
                steps.append(np.stack([out[f"loss:{level}"] for level in LEVELS]))
                step_epochs.append(epoch)
                share = len(rows) / spec.num_samples
                for i, level in enumerate(LEVELS):
                    step = out[f"loss:{level}"] if share == 1 else p.r(out[f"loss:{level}"] * cast(share))
                    costs[i, :, epoch] = step if share == 1 else p.r(costs[i, :, epoch] + step)
                gw, gb = _grads(p, xb, yb, out["softmax"])
                w, buffers[0] = _sgd(p, w, gw, buffers[0], spec, cast)
                b, buffers[1] = _sgd(p, b, gb, buffers[1], spec, cast)
            if not np.all(np.isfinite(costs[LEVELS.index("fused"), :, epoch])):  # the cost the lessons train with
                raise SpecError(
                    f"optimizer.lr: the float64 reference of {spec.name!r} diverges at epoch {epoch} (its cost, or a "
                    "perturbed run's, turns inf or nan): no rounding envelope for a run that blows up"
                )
    step_losses = np.stack(steps, axis=-1)  # (levels, copies, steps)
    return {
        **runs,
        "costs": costs,
        "step_losses": step_losses,
        "step_epochs": np.array(step_epochs),
        "weight": w,
        "bias": b,
    }


def sigma(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The root mean square of (sample - reference) over the samples on ``axis`` (the reference first)."""
    ref = np.take(values, [0], axis=axis)
    rest = np.delete(values, 0, axis=axis)
    with np.errstate(invalid="ignore"):  # inf - inf: the same infinity (log 0 of an underflowed probability) agrees
        return np.sqrt(np.mean(np.where(rest == ref, 0.0, rest - ref) ** 2, axis=axis))


def derive(spec: Spec, dtype: str, *, samples: int = SAMPLES, seed: int = SEED, safety: float = SAFETY) -> Envelope:
    """The envelope of every compared quantity of ``spec`` in ``dtype``: ``safety`` times the largest
    per-element standard deviation of the perturbed runs about the reference (module docstring)."""
    runs = sample_runs(spec, dtype, samples, seed)
    levels = sigma(runs["costs"], axis=1)
    # the widest loss level at each epoch, of those whose reference cost is finite there (on huge logits the
    # onehot level's log 0 makes it inf or nan, a level no backend trains with then); the fused level always is
    costs = np.max(np.where(np.isfinite(runs["costs"][:, 0, :]), levels, 0.0), axis=0)
    checkpoints = checkpointed(safety * costs, checkpoint_every(spec))
    params = max(float(np.max(sigma(runs["weight"]))), float(np.max(sigma(runs["bias"]))))
    levels = sigma(runs["step_losses"], axis=1)
    per_step = np.max(np.where(np.isfinite(runs["step_losses"][:, 0, :]), levels, 0.0), axis=0)
    epochs = runs["step_epochs"]
    widest = np.zeros(spec.epochs + 1)
    np.maximum.at(widest, epochs, per_step)  # the largest of each epoch's steps, as the cost's checkpoints do
    return Envelope(
        spec=spec.name,
        dtype=dtype,
        samples=samples,
        seed=seed,
        safety=safety,
        forward={k: safety * float(np.max(sigma(runs[k]))) for k in FORWARD_CHECKS},
        checkpoints=checkpoints,
        params=safety * params,
        fingerprint=fingerprint(spec, dtype),
        step_losses=tuple(float(v) for v in safety * widest[epochs]),
    )
