"""What every backend offers, with NumPy arrays in and NumPy arrays out.

Each ``backends/<name>_impl/backend.py`` subclasses ``Backend`` and fills in four small
hooks (``_to_native``, ``_to_numpy``, ``_functional``, ``_train``). Everything users call
lives here, once: checking arguments on the host, converting arrays, and packing results,
so the three backends can only differ in the framework code they run.
"""

from __future__ import annotations

import numbers
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .data import Batches
from .spec import DTYPES, Spec

LEVELS = ("onehot", "nll", "fused")
REDUCTIONS = ("mean", "sum", "none")
LogFn = Callable[[int, float], None]


class BackendError(ValueError):
    """A backend, device, dtype or argument that can't be used; the message names it."""


class TrainingDiverged(ArithmeticError):
    """A run's cost turned inf or nan; training stopped after that epoch.

    ``result`` is the run up to there (``result.losses`` ends with the first non-finite cost,
    ``result.diverged_at`` is its epoch), for a report that marks the run rather than
    comparing NaNs.
    """

    def __init__(self, result: "TrainResult"):
        self.result = result
        run = result.backend if result.variant == "lesson" else f"{result.backend}:{result.variant}"
        super().__init__(
            f"{run} diverged at epoch {result.diverged_at}: cost {float(result.losses[-1])} "
            f"({result.dtype}, lr {result.lr}); training stopped there. Try a smaller --lr."
        )


@dataclass
class TrainResult:
    """One training run.

    losses: (epochs + 1,) each epoch's cost: the mean loss over the training rows, each batch's
            loss computed before that batch's step (full batch: the cost before the epoch's step).
    weight: (C, D) final weight, stored (out, in) as torch stores it.  bias: (C,).
    accuracy: fraction of the training samples whose largest logit is their label.
    test_accuracy: the same on the spec's test split; None when the spec has none.
    diverged_at: the epoch whose cost was first inf or nan (the run stopped there), else None.
    settings: the framework versions and precision settings the run used.
    """

    backend: str
    variant: str
    dtype: str
    device: str
    spec: str
    lr: float
    epochs: int
    losses: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    accuracy: float
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    test_accuracy: float | None = None
    diverged_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "variant": self.variant, "dtype": self.dtype, "device": self.device,
            "spec": self.spec, "lr": self.lr, "epochs": self.epochs,
            "losses": self.losses.tolist(), "weight": self.weight.tolist(), "bias": self.bias.tolist(),
            "accuracy": self.accuracy, "test_accuracy": self.test_accuracy,
            "seconds": self.seconds, "settings": self.settings, "diverged_at": self.diverged_at,
        }


class Backend:
    """One framework's implementation of the lesson, used through NumPy arrays.

    ``get_backend(name, device, dtype)`` (in ``softmax_rosetta.registry``) builds one; users don't
    subclass this. Subclasses set ``name``, ``variants`` and implement the hooks.
    """

    name: str = ""
    framework: str = ""
    variants: tuple[str, ...] = ("lesson",)

    def __init__(self, device: str = "cpu", dtype: str = "float32"):
        if dtype not in DTYPES:
            raise BackendError(f"dtype: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        devices = self.available_devices()
        if device not in self.known_devices():
            raise BackendError(
                f"device: unknown device {device!r} for the {self.name} backend; known: {', '.join(self.known_devices())}"
            )
        if device not in devices:
            raise BackendError(
                f"device: the {self.name} backend can't use {device!r} on this machine; available: {', '.join(devices)}"
            )
        self.device = device
        self.dtype = dtype
        self.np_dtype = np.dtype(dtype)

    # --- hooks each backend fills in ----------------------------------------------------
    @classmethod
    def known_devices(cls) -> tuple[str, ...]:
        return ("cpu",)

    @classmethod
    def available_devices(cls) -> tuple[str, ...]:
        return ("cpu",)

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {}

    def settings(self) -> dict[str, Any]:
        """Framework versions and the precision settings in force."""
        return {}

    def _to_native(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def _to_numpy(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    @property
    def _functional(self) -> Any:
        """The backend's ``functional`` module."""
        raise NotImplementedError

    def _train(self, x: Any, y: Any, weight: Any, bias: Any, lr: float, epochs: int,
               variant: str, log_every: int, log: LogFn | None, *, batches: Batches,
               momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> tuple[Any, Any, Any]:
        """Run the loop; return (losses (epochs+1,), weight (C, D), bias (C,)) as native arrays.

        ``batches(epoch)`` lists each step's rows (NumPy int64 indices), the same for every
        backend; momentum, dampening, nesterov and weight_decay are torch.optim.SGD's.
        """
        raise NotImplementedError

    # --- the public API -------------------------------------------------------------------
    def softmax(self, z: Any, axis: int = -1) -> np.ndarray:
        """exp(z - max z) / sum exp(z - max z) along ``axis``."""
        z = self._float_input("z", z)
        return self._to_numpy(self._functional.softmax(self._to_native(z), axis=axis))

    def log_softmax(self, z: Any, axis: int = -1) -> np.ndarray:
        """z - logsumexp(z) along ``axis``."""
        z = self._float_input("z", z)
        return self._to_numpy(self._functional.log_softmax(self._to_native(z), axis=axis))

    def nll_loss(self, log_probs: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> np.ndarray:
        """-weight[y] * log_probs[y] per element, 0 where y == ignore_index, then reduced: F.nll_loss.

        log_probs (N, C), (N, C, d1, ...) or (C,); target: class indices, log_probs' shape without
        the class axis. "mean" divides by the sum of weight[y] over the targets that count.
        """
        x, t, options = self._loss_args("log_probs", log_probs, target, weight, ignore_index, reduction)
        return self._to_numpy(self._functional.nll_loss(x, t, **options))

    def nll_loss_grad(self, log_probs: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                      reduction: str = "mean") -> np.ndarray:
        """d nll_loss(...) / d log_probs, log_probs' shape; for "none", the gradient of the losses' sum."""
        x, t, options = self._loss_args("log_probs", log_probs, target, weight, ignore_index, reduction)
        return self._to_numpy(self._functional.nll_loss_grad(x, t, **options))

    def cross_entropy(self, logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                      reduction: str = "mean", label_smoothing: float = 0.0, level: str = "fused") -> np.ndarray:
        """Cross-entropy with F.cross_entropy's options, at one of the lesson's levels.

        logits (N, C), (N, C, d1, ...) with the classes on axis 1, or (C,) unbatched. target:
        integer class indices, logits' shape without the class axis; or floats, class
        probabilities of logits' own shape. weight (C,) >= 0; ignore_index (class indices only);
        reduction "none" | "sum" | "mean"; label_smoothing in [0, 1]. docs/cross-entropy.md.

        level "onehot": sum(q * -log(softmax(logits)), classes), the lesson's low level, q the
            target as a weighted, smoothed distribution: every option, but inf or nan where a
            probability underflows to 0 (logits like +-1e4, or -inf);
        level "nll": nll_loss(log_softmax(logits), target): weight, ignore_index and reduction;
            no label smoothing and no probability targets;
        level "fused": the framework's own op: every option.
        """
        level = _choice("level", level, LEVELS)
        x, t, options = self._loss_args("logits", logits, target, weight, ignore_index, reduction, label_smoothing)
        f = self._functional
        if level == "nll":
            _nll_level_can_express(np.asarray(target).dtype.kind == "f", options.pop("label_smoothing"))
        fn = {"onehot": f.cross_entropy_onehot, "nll": f.cross_entropy_nll, "fused": f.cross_entropy}[level]
        return self._to_numpy(fn(x, t, **options))

    def cross_entropy_grad(self, logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0) -> np.ndarray:
        """d cross_entropy(...) / d logits, logits' shape; for "none", the gradient of the losses' sum.

        torch by autograd, JAX by jax.grad, NumPy by hand: softmax(z) * sum(a) - a for the
        weighted target distribution a, over the mean's denominator.
        """
        x, t, options = self._loss_args("logits", logits, target, weight, ignore_index, reduction, label_smoothing)
        return self._to_numpy(self._functional.cross_entropy_grad(x, t, **options))

    def train(self, spec: Spec, *, epochs: int | None = None, lr: float | None = None,
              variant: str = "lesson", log_every: int = 0, log: LogFn | None = None) -> TrainResult:
        """Train the spec's linear classifier the way the lesson does; ``log(epoch, cost)`` every ``log_every``.

        The spec gives the data, initial parameters, batches and SGD options; every backend
        receives the same arrays and the same batch order from it.
        """
        if epochs is not None or lr is not None:
            spec = spec.replace(**{k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None})
        variant = _choice("variant", variant, self.variants, where=f" for the {self.name} backend")
        if log_every < 0:
            raise BackendError(f"log_every: must be >= 0, got {log_every!r}")
        cast = lambda a: self._to_native(np.asarray(a, dtype=self.np_dtype))  # noqa: E731
        x, w, b = cast(spec.x_train), cast(spec.init_weight), cast(spec.init_bias)
        y = self._to_native(np.asarray(spec.y_train, dtype=np.int64))
        start = time.perf_counter()
        losses, weight, bias = self._train(x, y, w, b, spec.lr, spec.epochs, variant, log_every, log,
                                           batches=spec.batches, **spec.optimizer_options)
        losses, weight, bias = self._to_numpy(losses), self._to_numpy(weight), self._to_numpy(bias)
        seconds = time.perf_counter() - start

        def accuracy(x: np.ndarray, y: np.ndarray) -> float:
            with np.errstate(all="ignore"):  # a diverged run's parameters may be inf
                logits = x.astype(self.np_dtype) @ weight.T + bias
            return float(np.mean(np.argmax(logits, axis=1) == y))

        bad = np.flatnonzero(~np.isfinite(losses))
        result = TrainResult(
            backend=self.name, variant=variant, dtype=self.dtype, device=self.device, spec=spec.name,
            lr=spec.lr, epochs=spec.epochs, losses=losses, weight=weight, bias=bias,
            accuracy=accuracy(spec.x_train, spec.y_train), seconds=seconds, settings=self.settings(),
            test_accuracy=None if spec.x_test is None else accuracy(spec.x_test, spec.y_test),
            diverged_at=int(bad[0]) if bad.size else None,
        )
        if bad.size:
            if len(losses) != bad[0] + 1:  # every loop stops at its first non-finite cost
                raise AssertionError(f"{self.name}:{variant} kept training after diverging at epoch {bad[0]}")
            raise TrainingDiverged(result)
        return result

    # --- host-side checks: the same words in every backend ---------------------------------
    def _float_input(self, name: str, value: Any, ndim: int | None = None) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
            raise BackendError(f"{name}: expected a real-valued array, got dtype {arr.dtype}")
        if ndim is not None and arr.ndim != ndim:
            raise BackendError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
        if arr.ndim == 0:
            raise BackendError(f"{name}: expected an array, got a scalar {arr!r}")
        return arr.astype(self.np_dtype, copy=False)

    def _loss_args(self, name: str, value: Any, target: Any, weight: Any, ignore_index: Any, reduction: str,
                   label_smoothing: Any = None) -> tuple[Any, Any, dict[str, Any]]:
        """Check a loss's arguments here, on the host, before any framework runs (a jitted JAX
        function can't raise, and a check on a GPU would make it wait), and convert them.

        Returns (input, target, options) as the backend's function takes them. With
        ``label_smoothing`` None the loss has no such option, nor probability targets (nll_loss).
        """
        x = self._float_input(name, value)
        num_classes = x.shape[_class_axis(x.ndim)]
        if num_classes == 0:
            raise BackendError(f"{name}: expected at least one class, got shape {x.shape}")
        ignore_index = _integer("ignore_index", ignore_index)
        t = self._target(target, x.shape, ignore_index, probabilities=label_smoothing is not None)
        w = self._class_weight(weight, num_classes)
        options = {"weight": None if w is None else self._to_native(w), "ignore_index": ignore_index,
                   "reduction": _choice("reduction", reduction, REDUCTIONS)}
        if label_smoothing is not None:
            options["label_smoothing"] = _label_smoothing(label_smoothing)
        return self._to_native(x), self._to_native(t), options

    def _target(self, target: Any, input_shape: tuple[int, ...], ignore_index: int = -100,
                probabilities: bool = False) -> np.ndarray:
        """Class indices (int64) of the input's shape without the class axis, each in [0, C) or
        ignore_index; or, where ``probabilities``, floats of the input's own shape, finite and >= 0."""
        t = np.asarray(target)
        input_shape = tuple(input_shape)
        c = input_shape[_class_axis(len(input_shape))]
        if probabilities and t.dtype.kind == "f" and t.shape == input_shape:
            if ignore_index >= 0:  # torch refuses these too; a negative one can't match and is let be
                raise BackendError(f"ignore_index: doesn't apply to probability targets, got {ignore_index}; "
                                   "leave it at the default -100")
            bad = np.argwhere(~(np.isfinite(t) & (t >= 0)))
            if len(bad):
                i = tuple(int(k) for k in bad[0])
                raise BackendError(f"target: probabilities must be finite and >= 0, got {float(t[i])}{_at(i)}")
            return t.astype(self.np_dtype, copy=False)
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
            raise BackendError(f"target: class index {int(t[i])}{_at(i)} is outside [0, {c}) "
                               f"and isn't ignore_index ({ignore_index})")
        return t.astype(np.int64, copy=False)

    def _class_weight(self, weight: Any, num_classes: int) -> np.ndarray | None:
        """weight (C,): one finite, non-negative weight per class, in the backend's dtype."""
        if weight is None:
            return None
        w = self._float_input("weight", weight, ndim=1)
        if w.shape != (num_classes,):
            raise BackendError(f"weight: expected one weight per class, shape ({num_classes},), got {w.shape}")
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        if bad.size:  # the value as given, not as cast: the same words in every dtype
            i = int(bad[0])
            given = float(np.asarray(weight)[i])
            raise BackendError(f"weight: entries must be finite and >= 0, got {given} for class {i}")
        return w


def _class_axis(ndim: int) -> int:
    """Where the classes are, as in torch: axis 1, or axis 0 for an unbatched (C,) input."""
    return 1 if ndim > 1 else 0


def _at(index: tuple[int, ...]) -> str:
    """Where an entry is, for a message: nothing for a scalar, "at position 3", "at position (0, 2)"."""
    if not index:
        return ""
    return f" at position {index[0] if len(index) == 1 else index}"


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BackendError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def _label_smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise BackendError(f"label_smoothing: must be a number in [0, 1], got {value!r}")
    return float(value)


def _nll_level_can_express(probabilities: bool, label_smoothing: float) -> None:
    """Level "nll" is nll_loss(log_softmax(z), y): one class per element, nothing else."""
    if probabilities:
        raise BackendError("level: 'nll' can't take probability targets: nll_loss picks one class per "
                           "element; use level 'onehot' or 'fused'")
    if label_smoothing:
        raise BackendError("level: 'nll' can't express label_smoothing: nll_loss(log_softmax(z), y) has no "
                           "term for the other classes; use level 'onehot' or 'fused'")


def check_plain_sgd(batches: Any, momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> None:
    """The fast paths (backends/*/fast.py) cover full-batch plain SGD; anything else is an error
    that names the option."""
    if batches is not None and (not batches.full_batch or batches.shuffle):
        what = f"batch_size {batches.batch_size}" if not batches.full_batch else "shuffled rows"
        raise BackendError(f"the fast path trains full batch only, in row order; this run asks for {what} "
                           "(use the lesson variant)")
    for name, value in (("momentum", momentum), ("dampening", dampening), ("nesterov", nesterov),
                        ("weight_decay", weight_decay)):
        if value:
            raise BackendError(f"the fast path is plain SGD; this run asks for {name} = {value!r} "
                               "(use the lesson variant)")


def _choice(name: str, value: str, options: tuple[str, ...], where: str = "") -> str:
    if value not in options:
        raise BackendError(f"{name}: unknown {name} {value!r}{where}; known: {', '.join(options)}")
    return value


def host_settings() -> dict[str, Any]:
    """Facts about the machine that every result records."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
