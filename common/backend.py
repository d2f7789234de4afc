"""What every backend offers, with NumPy arrays in and NumPy arrays out.

Each ``backends/<name>_impl/backend.py`` subclasses ``Backend`` and fills in four small
hooks (``_to_native``, ``_to_numpy``, ``_functional``, ``_train``). Everything users call
lives here, once: checking arguments on the host, converting arrays, and packing results,
so the three backends can only differ in the framework code they run.
"""

from __future__ import annotations

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


@dataclass
class TrainResult:
    """One training run.

    losses: (epochs + 1,) each epoch's cost: the mean loss over the training rows, each batch's
            loss computed before that batch's step (full batch: the cost before the epoch's step).
    weight: (C, D) final weight, stored (out, in) as torch stores it.  bias: (C,).
    accuracy: fraction of the training samples whose largest logit is their label.
    test_accuracy: the same on the spec's test split; None when the spec has none.
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "variant": self.variant, "dtype": self.dtype, "device": self.device,
            "spec": self.spec, "lr": self.lr, "epochs": self.epochs,
            "losses": self.losses.tolist(), "weight": self.weight.tolist(), "bias": self.bias.tolist(),
            "accuracy": self.accuracy, "test_accuracy": self.test_accuracy,
            "seconds": self.seconds, "settings": self.settings,
        }


class Backend:
    """One framework's implementation of the lesson, used through NumPy arrays.

    ``get_backend(name, device, dtype)`` (in ``common.registry``) builds one; users don't
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

    def nll_loss(self, log_probs: Any, target: Any, reduction: str = "mean") -> np.ndarray:
        """-log_probs[i, target[i]], reduced. log_probs (N, C), target (N,) class indices."""
        log_probs = self._float_input("log_probs", log_probs, ndim=2)
        target = self._target(target, log_probs.shape)
        reduction = _choice("reduction", reduction, REDUCTIONS)
        f = self._functional
        return self._to_numpy(f.nll_loss(self._to_native(log_probs), self._to_native(target), reduction=reduction))

    def cross_entropy(self, logits: Any, target: Any, reduction: str = "mean", level: str = "fused") -> np.ndarray:
        """Cross-entropy of logits (N, C) against class indices (N,), at one of the lesson's levels.

        level "onehot": sum(one_hot(target) * -log(softmax(logits)), classes), the lesson's low level;
        level "nll": nll_loss(log_softmax(logits), target); level "fused": the framework's own op.
        """
        logits = self._float_input("logits", logits, ndim=2)
        target = self._target(target, logits.shape)
        reduction = _choice("reduction", reduction, REDUCTIONS)
        level = _choice("level", level, LEVELS)
        f = self._functional
        fn = {"onehot": f.cross_entropy_onehot, "nll": f.cross_entropy_nll, "fused": f.cross_entropy}[level]
        return self._to_numpy(fn(self._to_native(logits), self._to_native(target), reduction=reduction))

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
            logits = x.astype(self.np_dtype) @ weight.T + bias
            return float(np.mean(np.argmax(logits, axis=1) == y))

        return TrainResult(
            backend=self.name, variant=variant, dtype=self.dtype, device=self.device, spec=spec.name,
            lr=spec.lr, epochs=spec.epochs, losses=losses, weight=weight, bias=bias,
            accuracy=accuracy(spec.x_train, spec.y_train), seconds=seconds, settings=self.settings(),
            test_accuracy=None if spec.x_test is None else accuracy(spec.x_test, spec.y_test),
        )

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

    def _target(self, target: Any, input_shape: tuple[int, ...]) -> np.ndarray:
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise BackendError(f"target: expected integer class indices, got dtype {t.dtype}")
        if t.shape != input_shape[:1]:
            raise BackendError(f"target: expected shape {input_shape[:1]} for input of shape {input_shape}, got {t.shape}")
        c = input_shape[1]
        bad = np.flatnonzero((t < 0) | (t >= c))
        if bad.size:
            i = int(bad[0])
            raise BackendError(f"target: class index {int(t[i])} at position {i} is outside [0, {c})")
        return t.astype(np.int64, copy=False)


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
