"""Argument checks, run on the host before any framework sees the arrays: the same words in every backend.

A jitted JAX function can't raise, a check on a GPU would make the host wait, and NumPy would
silently wrap a label of -1 around to the last class: so every check is made here, in NumPy,
once, and every backend receives arrays that are already known to be good.
"""

from __future__ import annotations

import importlib.util
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .backend import Backend
    from .spec import Spec

LEVELS = ("onehot", "nll", "fused")
REDUCTIONS = ("mean", "sum", "none")


class BackendError(ValueError):
    """A backend, device, dtype or argument that can't be used; the message names it."""


def findable(package: str) -> bool:
    """Whether ``package`` is installed, found without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken install, or sys.modules[package] = None
        return False


def choice(name: str, value: str, options: tuple[str, ...], where: str = "") -> str:
    if value not in options:
        raise BackendError(f"{name}: unknown {name} {value!r}{where}; known: {', '.join(options)}")
    return value


def class_axis(ndim: int) -> int:
    """Where the classes are, as in torch: axis 1, or axis 0 for an unbatched (C,) input."""
    return 1 if ndim > 1 else 0


def float_input(name: str, value: Any, dtype: np.dtype, ndim: int | None = None, scalar_ok: bool = False) -> np.ndarray:
    """A real-valued array in ``dtype``; a 0-d one only where ``scalar_ok`` (softmax takes it, as torch does)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
        raise BackendError(f"{name}: expected a real-valued array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise BackendError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    if arr.ndim == 0 and not scalar_ok:
        raise BackendError(f"{name}: expected an array, got a scalar {arr!r}")
    return arr.astype(dtype, copy=False)


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BackendError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def int64(name: str, value: Any) -> int:
    """An integer that fits in int64, as torch's integer arguments must (each framework fails its own way past it)."""
    i = integer(name, value)
    info = np.iinfo(np.int64)
    if not info.min <= i <= info.max:
        raise BackendError(f"{name}: {i} is outside int64, [{info.min}, {info.max}]")
    return i


def axis(value: Any, ndim: int) -> int:
    """The axis softmax normalises along: an integer in [-ndim, ndim), as torch's dim; a 0-d input has
    one axis of its own ([-1, 0]), as in torch. None is refused: NumPy and JAX would normalise the
    whole array, torch (with a warning) a dimension it picks: one call, different numbers."""
    if value is None:
        raise BackendError(
            "axis: expected an integer, got None; softmax normalises along one axis, "
            "as torch's dim: name it (-1 for the last)"
        )
    i = integer("axis", value)
    n = max(ndim, 1)
    if not -n <= i < n:
        raise BackendError(
            f"axis: {i} is out of range for an input of {ndim} dimensions; expected an integer in [{-n}, {n - 1}]"
        )
    return i


def label_smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise BackendError(f"label_smoothing: must be a number in [0, 1], got {value!r}")
    return float(value)


def target(
    value: Any, input_shape: tuple[int, ...], dtype: np.dtype, ignore_index: int = -100, probabilities: bool = False
) -> np.ndarray:
    """Class indices (int64) of the input's shape without the class axis, each in [0, C) or
    ignore_index; or, where ``probabilities``, floats of the input's own shape, finite and >= 0."""
    t = np.asarray(value)
    input_shape = tuple(input_shape)
    c = input_shape[class_axis(len(input_shape))]
    if probabilities and t.dtype.kind == "f" and t.shape == input_shape:
        if ignore_index >= 0:  # torch refuses these too; a negative one can't match and is let be
            raise BackendError(
                f"ignore_index: doesn't apply to probability targets, got {ignore_index}; leave it at the default -100"
            )
        bad = np.argwhere(~(np.isfinite(t) & (t >= 0)))
        if len(bad):
            i = tuple(int(k) for k in bad[0])
            raise BackendError(f"target: probabilities must be finite and >= 0, got {float(t[i])}{_at(i)}")
        return t.astype(dtype, copy=False)
    if t.dtype.kind not in "iu":
        hint = ""
        if probabilities and t.dtype.kind == "f":
            hint = f"; probabilities would have the input's shape {input_shape}, got {t.shape}"
        raise BackendError(f"target: expected integer class indices, got dtype {t.dtype}{hint}")
    index_shape = input_shape[:1] + input_shape[2:] if len(input_shape) > 1 else ()
    if t.shape != index_shape:
        raise BackendError(f"target: expected shape {index_shape} for input of shape {input_shape}, got {t.shape}")
    bad = np.argwhere((t != ignore_index) & ((t < 0) | (t >= c)))
    if len(bad):  # (count, ndim): a scalar target's hit is one empty index
        i = tuple(int(k) for k in bad[0])
        raise BackendError(
            f"target: class index {int(t[i])}{_at(i)} is outside [0, {c}) and isn't ignore_index ({ignore_index})"
        )
    return t.astype(np.int64, copy=False)


def class_weight(value: Any, num_classes: int, dtype: np.dtype) -> np.ndarray | None:
    """weight (C,): one finite weight per class, in ``dtype``. Any sign, as torch takes it: a negative
    weight turns its classes' losses around, and the mean divides by the sum of weight[y] as ever."""
    if value is None:
        return None
    w = float_input("weight", value, dtype, ndim=1)
    if w.shape != (num_classes,):
        raise BackendError(f"weight: expected one weight per class, shape ({num_classes},), got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:  # the value as given, not as cast: the same words in every dtype
        i = int(bad[0])
        given = float(np.asarray(value)[i])
        raise BackendError(f"weight: entries must be finite, got {given} for class {i}")
    return w


def nll_level_can_express(probabilities: bool, smoothing: float) -> None:
    """Level "nll" is nll_loss(log_softmax(z), y): one class per element, nothing else."""
    if probabilities:
        raise BackendError(
            "level: 'nll' can't take probability targets: nll_loss picks one class per "
            "element; use level 'onehot' or 'fused'"
        )
    if smoothing:
        raise BackendError(
            "level: 'nll' can't express label_smoothing: nll_loss(log_softmax(z), y) has no "
            "term for the other classes; use level 'onehot' or 'fused'"
        )


def check_plain_sgd(batches: Any, momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> None:
    """The fast paths (backends/*/fast.py) cover full-batch plain SGD; anything else is an error
    that names the option."""
    if batches is not None and (not batches.full_batch or batches.shuffle):
        what = f"batch_size {batches.batch_size}" if not batches.full_batch else "shuffled rows"
        raise BackendError(
            f"the fast path trains full batch only, in row order; this run asks for {what} (use the lesson variant)"
        )
    for name, value in (
        ("momentum", momentum),
        ("dampening", dampening),
        ("nesterov", nesterov),
        ("weight_decay", weight_decay),
    ):
        if value:
            raise BackendError(
                f"the fast path is plain SGD; this run asks for {name} = {value!r} (use the lesson variant)"
            )


def _at(index: tuple[int, ...]) -> str:
    """Where an entry is, for a message: nothing for a scalar, "at position 3", "at position (0, 2)"."""
    if not index:
        return ""
    return f" at position {index[0] if len(index) == 1 else index}"


def workers(be: Backend, spec: Spec, variant: str, workers: Any) -> None:
    """Refuse a worker count the run can't use: not an integer >= 1, > 1 where the backend or the
    variant trains in one process, or more workers than the rows of the spec's smallest batch
    (a worker would have no rows)."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise BackendError(f"workers: must be an integer >= 1, got {workers!r}")
    if workers == 1:
        return
    if not be.data_parallel:
        raise BackendError(
            f"workers: the {be.name} backend trains in one process ({be.no_data_parallel}); "
            f"workers must be 1, got {workers}"
        )
    if variant != "lesson":
        raise BackendError(
            f"workers: the {be.name} backend's {variant} variant trains in one process; "
            f"use the lesson variant for workers = {workers}"
        )
    smallest = min(len(rows) for rows in spec.batches(0))
    if workers > smallest:
        raise BackendError(
            f"workers: {workers} is more than the {smallest} rows of the spec's smallest batch "
            f"(spec {spec.name}, {spec.num_samples} rows, batch size {spec.batches.batch_size}): "
            "a worker would have no rows"
        )


def dtype_holds(spec: Spec, dtype: np.dtype) -> None:
    """Refuse, before training, what the run's dtype can't hold: an lr that rounds to 0 or inf in
    it, data or initial parameters beyond its largest value (the cast would make them inf)."""
    info = np.finfo(dtype)
    with np.errstate(over="ignore", under="ignore"):
        lr = dtype.type(spec.lr)
        if lr == 0:
            raise BackendError(
                f"lr: {spec.lr!r} is 0 in {dtype} (its smallest positive value is "
                f"{info.smallest_subnormal:.3g}): training would change nothing"
            )
        if not np.isfinite(lr):
            raise BackendError(f"lr: {spec.lr!r} overflows {dtype} (largest {info.max:.3g})")
        arrays = {"data.x_train": spec.x_train, "data.x_test": spec.x_test}
        arrays.update({"init.weight": spec.init_weight, "init.bias": spec.init_bias})
        for where, arr in arrays.items():
            if arr is None or dtype == arr.dtype:  # the spec's float64 arrays are finite
                continue
            bad = np.argwhere(np.isinf(arr.astype(dtype)))
            if len(bad):  # the spec's arrays are finite: inf here is the cast's overflow
                i = tuple(int(k) for k in bad[0])
                value = float(arr[i])
                raise BackendError(f"{where}: {value!r} at index {i} overflows {dtype} (largest {info.max:.3g})")


class RowError(BackendError):
    """One row of a prediction's input that can't be answered; ``row`` is its index, ``detail`` what is wrong."""

    def __init__(self, row: int, detail: str):
        super().__init__(f"x: row {row}: {detail}")
        self.row = row
        self.detail = detail


def predict_inputs(w: np.ndarray, b: np.ndarray, x: np.ndarray, dtype: str) -> None:
    """Refuse what ``predict_proba`` can't answer truly: shapes that don't fit, a non-finite value, and a
    row whose logits ``x W^T + b`` could overflow ``dtype`` (a ``RowError``, before any backend runs).

    Overflow is judged by a bound that holds in every order of summation: a row passes when
    ``|x| |W|^T + |b|`` (in float64), grown by the rounding of its D + 1 sums, stays within the
    dtype's largest value. Then no partial sum of any backend's matmul can reach inf, the logits
    are finite, and softmax (which subtracts each row's largest logit) is too. A row past the bound
    is refused, not answered: an overflowed logit is inf or nan, and its softmax nan or a wrong
    class; 0 * inf or inf - inf can't be undone afterwards.
    """
    if w.shape[0] == 0:
        raise BackendError(f"weight: expected at least one class, got shape {w.shape}")
    if b.shape != w.shape[:1]:
        raise BackendError(f"bias: expected shape ({w.shape[0]},) for weight of shape {w.shape}, got {b.shape}")
    if x.shape[1] != w.shape[1]:
        raise BackendError(f"x: rows have {x.shape[1]} features but the model takes {w.shape[1]}")
    for name, a in (("weight", w), ("bias", b), ("x", x)):
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            i = tuple(int(k) for k in bad[0])
            raise BackendError(f"{name}: non-finite value {a[i]} at index {i} (in {dtype})")
    if not len(x):
        return
    info = np.finfo(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        reach = (np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + np.abs(b.astype(np.float64))).max(1)
    rounding = 1 + 2 * (w.shape[1] + 2) * max(info.eps, np.finfo(np.float64).eps)
    past = np.flatnonzero(~(reach * rounding <= info.max))  # nan and inf fail too
    if len(past):
        row = int(past[0])
        raise RowError(
            row,
            f"its logits x W^T + b can overflow {dtype} (|x| |W|^T + |b| reaches {reach[row]:.3g}; "
            f"the largest {dtype} is {info.max:.3g})",
        )


def probabilities(p: np.ndarray) -> np.ndarray:
    """``p``, each row checked finite: a ``RowError`` naming the first row that is not (a backend's
    softmax gone wrong is never printed as an answer)."""
    wrong = np.flatnonzero(~np.isfinite(p).all(axis=1)) if p.ndim == 2 else np.array([], dtype=int)
    if len(wrong):
        row = int(wrong[0])
        raise RowError(row, f"its probabilities are not finite ({', '.join(str(v) for v in p[row])})")
    return p
