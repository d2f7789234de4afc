"""What every backend offers, with NumPy arrays in and NumPy arrays out.

Each ``backends/<name>_impl/backend.py`` subclasses ``Backend`` and fills in what only its
framework knows: converting arrays (``to_native``, ``to_numpy``), running a training loop
on native arrays (``train_native``), waiting for a result (``synchronize``), its thread
count (``set_threads``), its devices, versions and precision settings (``settings``).
Everything users call lives here, once: checking arguments on the host (``checks``),
converting arrays, and packing results, so the three backends can only differ in the
framework code they run. Nothing outside ``backends/`` asks which backend it is talking to.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from . import checks
from .checks import LEVELS, BackendError
from .results import TrainingDiverged, TrainResult
from .spec import DTYPES, Spec

LogFn = Callable[[int, float], None]
StepFn = Callable[[Any, Any], dict[str, Any]]  # step(x, y) -> a traced step's intermediates

__all__ = ["Backend", "BackendError", "LogFn", "TrainResult", "TrainingDiverged", "host_settings"]


class Backend:
    """One framework's implementation of the lesson, used through NumPy arrays.

    ``get_backend(name, device, dtype)`` (in ``softmax_rosetta.registry``) builds one; users
    don't subclass this. Subclasses set the class attributes and implement the framework hooks.
    """

    name: str = ""
    framework: str = ""
    #: the framework as the docs and reports write it ("PyTorch")
    display_name: str = ""
    #: the side-by-side docs' column title: the framework and the libraries the lesson uses with it
    title: str = ""
    #: top-level packages the framework needs, checked before anything imports it; with ``extra``, write
    #: it as a literal in the class body: the registry reads both there without importing the module
    packages: tuple[str, ...] = ()
    #: the pip extra of the declaring distribution that installs ``packages`` ("" when none)
    extra: str = ""
    #: every training loop the backend offers: the lesson's first, then the fast ones, then compiled or fused
    variants: tuple[str, ...] = ("lesson",)
    #: those of ``variants`` that train full-batch plain SGD only (backends/*/fast.py)
    fast_variants: tuple[str, ...] = ()
    #: whether ``train`` takes ``workers`` > 1 (data-parallel training, backends/*/distributed.py)
    data_parallel: bool = False
    #: those of ``variants`` whose first call compiles (the bench reports that time apart)
    compiling_variants: tuple[str, ...] = ()
    #: variants that need a package beyond the framework: {variant: (import name, pip extra)}
    variant_requires: dict[str, tuple[str, str]] = {}
    #: the variant the side-by-side docs show as the framework's own fast loop (a compiled or fused one)
    fused_variant: str = "lesson"
    #: why the backend doesn't train data parallel, in one line (where ``data_parallel`` is False)
    no_data_parallel: str = "it has no data-parallel training loop"
    #: devices where the backend can't compute in float64: {device: the one-line reason}
    no_float64: dict[str, str] = {}
    #: a TOML file, relative to the folder of the module that defines the class, naming the checks of
    #: ``softmax-rosetta conform`` the backend knowingly fails, each with its reason ("": none; docs/backends.md)
    deviations: str = ""

    def __init__(self, device: str = "cpu", dtype: str = "float32"):
        if dtype not in DTYPES:
            raise BackendError(f"dtype: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        devices, known = self.available_devices(), self.known_devices()
        if device not in known:
            raise BackendError(
                f"device: unknown device {device!r} for the {self.name} backend; known: {', '.join(known)}"
            )
        if device not in devices:
            raise BackendError(
                f"device: the {self.name} backend can't use {device!r} on this machine; available: {', '.join(devices)}"
            )
        if dtype == "float64" and device in self.no_float64:
            raise BackendError(
                f"dtype: the {self.name} backend can't compute in float64 on {device}: {self.no_float64[device]}"
            )
        self.device = device
        self.dtype = dtype
        self.np_dtype = np.dtype(dtype)

    # --- facts about the backend -----------------------------------------------------------
    @classmethod
    def general_variants(cls) -> tuple[str, ...]:
        """The variants that train any spec (mini-batches, momentum, ...): the ones ``compare`` runs."""
        return tuple(v for v in cls.variants if v not in cls.fast_variants)

    @classmethod
    def unavailable(cls, variant: str) -> str | None:
        """Why ``variant`` can't run on this machine (a package it needs isn't installed), or None."""
        if variant not in cls.variant_requires:
            return None
        package, extra = cls.variant_requires[variant]
        if checks.findable(package):
            return None
        return f"{variant} needs {package}, which is not installed: pip install 'softmax-rosetta[{extra}]'"

    @classmethod
    def known_devices(cls) -> tuple[str, ...]:
        """Every device the backend can run on somewhere."""
        return ("cpu",)

    @classmethod
    def available_devices(cls) -> tuple[str, ...]:
        """The devices it can run on on this machine."""
        return ("cpu",)

    @classmethod
    def versions(cls) -> dict[str, str]:
        """The framework packages and their versions."""
        return {}

    def settings(self) -> dict[str, Any]:
        """What a result records: the host, framework versions, device, threads and precision settings."""
        return {**host_settings(), **self.versions()}

    def set_threads(self, threads: int) -> dict[str, Any]:
        """Set the framework's own thread count, where it has one; return the thread settings in force.

        Thread pools started at import (OpenBLAS, XLA's) take theirs from the environment
        (OMP_NUM_THREADS and the like), which must be set before the process starts.
        """
        return {}

    def synchronize(self, value: Any) -> None:
        """Wait until ``value`` (a native result) is computed: for timing asynchronous frameworks."""

    def process_env(self, workers: int) -> dict[str, str]:
        """Environment variables a fresh process needs to train with ``workers`` workers; {} when this one can.

        A framework that fixes its device count when it starts (JAX forcing K host devices on a
        CPU) can't grow it in a running process: the command line then runs the training in a
        fresh process with these variables set.
        """
        return {}

    # --- the framework hooks ----------------------------------------------------------------
    def to_native(self, array: np.ndarray) -> Any:
        """A NumPy array as the framework's own array, on the backend's device (floats in its dtype)."""
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        """A native array back as NumPy, on the host."""
        raise NotImplementedError

    @property
    def functional(self) -> ModuleType:
        """The backend's ``functional`` module (or an object with its functions)."""
        raise NotImplementedError

    def train_native(
        self,
        x: Any,
        y: Any,
        weight: Any,
        bias: Any,
        *,
        lr: float,
        epochs: int,
        variant: str = "lesson",
        log_every: int = 0,
        log: LogFn | None = None,
        batches: Any = None,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        workers: int = 1,
    ) -> tuple[Any, Any, Any]:
        """Run one training loop on native arrays: (costs (epochs + 1,), weight (C, D), bias (C,)).

        ``batches(epoch)`` lists each step's rows (NumPy int64 indices), the same for every
        backend (None: full batch); momentum, dampening, nesterov and weight_decay are
        torch.optim.SGD's. ``workers`` > 1 (only where ``data_parallel``): each worker takes its
        share of every batch's rows, and the costs and gradients are the whole batch's.
        ``train`` is this with the conversions, checks and result around it.
        """
        raise NotImplementedError

    def traced_steps(self, weight: Any, bias: Any, *, lr: float, **options: Any) -> StepFn:
        """The lesson's step, traced: a fresh model from weight and bias and its optimizer (lr and
        torch.optim.SGD's options), and a function ``step(x, y)`` that takes one step of the
        ``lesson`` loop on a batch and returns its intermediates (train.py's ``trace_step``,
        native arrays under the names of ``softmax_rosetta.trace.QUANTITIES``)."""
        raise NotImplementedError

    def predict_native(self, weight: Any, bias: Any, x: Any) -> Any:
        """Class probabilities on native arrays, (N, C): the backend's own model built from weight
        (C, D) and bias (C,) (model.py's ``init_model``), its forward on x (N, D), then softmax."""
        raise NotImplementedError

    # --- the public API -------------------------------------------------------------------
    def softmax(self, z: Any, axis: int = -1) -> np.ndarray:
        """exp(z - max z) / sum exp(z - max z) along ``axis`` (an integer: None is refused, see ``checks.axis``)."""
        return self._along_axis(self.functional.softmax, z, axis)

    def log_softmax(self, z: Any, axis: int = -1) -> np.ndarray:
        """z - logsumexp(z) along ``axis``."""
        return self._along_axis(self.functional.log_softmax, z, axis)

    def _along_axis(self, fn: Callable[..., Any], z: Any, axis: Any) -> np.ndarray:
        """softmax or log_softmax of z along axis, checked on the host. A 0-d z is one element along
        its own axis, as torch has it (softmax 1, log_softmax 0): it goes to the framework as (1,)."""
        z = checks.float_input("z", z, self.np_dtype, scalar_ok=True)
        axis = checks.axis(axis, z.ndim)
        return self.to_numpy(fn(self.to_native(z.reshape(z.shape or (1,))), axis=axis)).reshape(z.shape)

    def nll_loss(
        self, log_probs: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> np.ndarray:
        """-weight[y] * log_probs[y] per element, 0 where y == ignore_index, then reduced: F.nll_loss.

        log_probs (N, C), (N, C, d1, ...) or (C,); target: class indices, log_probs' shape without
        the class axis. "mean" divides by the sum of weight[y] over the targets that count.
        """
        x, t, options = self._loss_args("log_probs", log_probs, target, weight, ignore_index, reduction)
        return self.to_numpy(self.functional.nll_loss(x, t, **options))

    def nll_loss_grad(
        self, log_probs: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> np.ndarray:
        """d nll_loss(...) / d log_probs, log_probs' shape; for "none", the gradient of the losses' sum."""
        x, t, options = self._loss_args("log_probs", log_probs, target, weight, ignore_index, reduction)
        return self.to_numpy(self.functional.nll_loss_grad(x, t, **options))

    def cross_entropy(
        self,
        logits: Any,
        target: Any,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        level: str = "fused",
    ) -> np.ndarray:
        """Cross-entropy with F.cross_entropy's options, at one of the lesson's levels.

        logits (N, C), (N, C, d1, ...) with the classes on axis 1, or (C,) unbatched. target:
        integer class indices, logits' shape without the class axis; or floats, class
        probabilities of logits' own shape. weight (C,), finite; ignore_index (class indices only);
        reduction "none" | "sum" | "mean"; label_smoothing in [0, 1]. docs/cross-entropy.md.

        level "onehot": sum(q * -log(softmax(logits)), classes), the lesson's low level, q the
            target as a weighted, smoothed distribution: every option, but inf or nan where a
            probability underflows to 0 (logits like +-1e4, or -inf);
        level "nll": nll_loss(log_softmax(logits), target): weight, ignore_index and reduction;
            no label smoothing and no probability targets;
        level "fused": the framework's own op: every option.
        """
        level = checks.choice("level", level, LEVELS)
        x, t, options = self._loss_args("logits", logits, target, weight, ignore_index, reduction, label_smoothing)
        f = self.functional
        if level == "nll":
            checks.nll_level_can_express(np.asarray(target).dtype.kind == "f", options.pop("label_smoothing"))
        fn = {"onehot": f.cross_entropy_onehot, "nll": f.cross_entropy_nll, "fused": f.cross_entropy}[level]
        return self.to_numpy(fn(x, t, **options))

    def cross_entropy_grad(
        self,
        logits: Any,
        target: Any,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> np.ndarray:
        """d cross_entropy(...) / d logits, logits' shape; for "none", the gradient of the losses' sum.

        torch by autograd, JAX by jax.grad, NumPy by hand: softmax(z) * sum(a) - a for the
        weighted target distribution a, over the mean's denominator.
        """
        x, t, options = self._loss_args("logits", logits, target, weight, ignore_index, reduction, label_smoothing)
        return self.to_numpy(self.functional.cross_entropy_grad(x, t, **options))

    def predict_proba(self, weight: Any, bias: Any, x: Any) -> np.ndarray:
        """Each row's class probabilities, (N, C): softmax(x W^T + b) through the backend's own model.

        weight (C, D) as torch stores it (a trained ``result.weight``), bias (C,), x (N, D). The
        backend builds its model from the parameters, as its training loop does, and runs its
        forward; every value must be finite in the backend's dtype, and every row's logits within
        it (``checks.RowError`` names the first row that isn't, before any backend runs).
        """
        with np.errstate(over="ignore"):  # a value too large for the dtype is reported below
            w = checks.float_input("weight", weight, self.np_dtype, ndim=2)
            b = checks.float_input("bias", bias, self.np_dtype, ndim=1)
            x = checks.float_input("x", x, self.np_dtype, ndim=2)
        checks.predict_inputs(w, b, x, self.dtype)  # shapes, finite values, logits within the dtype
        return checks.probabilities(self.to_numpy(self.predict_native(*(self.to_native(a) for a in (w, b, x)))))

    def train(
        self,
        spec: Spec,
        *,
        epochs: int | None = None,
        lr: float | None = None,
        variant: str = "lesson",
        log_every: int = 0,
        log: LogFn | None = None,
        workers: int = 1,
    ) -> TrainResult:
        """Train the spec's linear classifier the way the lesson does; ``log(epoch, cost)`` every ``log_every``.

        The spec gives the data, initial parameters, batches and SGD options; every backend
        receives the same arrays and the same batch order from it. ``workers`` > 1 trains data
        parallel (backends with ``data_parallel``): the same steps on the same batches, each
        worker taking its share of every batch's rows (docs/distributed.md).
        """
        if epochs is not None or lr is not None:
            spec = spec.replace(**{k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None})
        variant = checks.choice("variant", variant, self.variants, where=f" for the {self.name} backend")
        missing = self.unavailable(variant)
        if missing:
            raise BackendError(f"variant: {missing}")
        if log_every < 0:
            raise BackendError(f"log_every: must be >= 0, got {log_every!r}")
        checks.workers(self, spec, variant, workers)
        checks.dtype_holds(spec, self.np_dtype)
        x, w, b = (
            self.to_native(np.asarray(a, dtype=self.np_dtype)) for a in (spec.x_train, spec.init_weight, spec.init_bias)
        )
        y = self.to_native(np.asarray(spec.y_train, dtype=np.int64))
        parallel: dict[str, Any] = {"workers": workers} if workers > 1 else {}  # 1: every backend's own loop
        start = time.perf_counter()
        native = self.train_native(
            x,
            y,
            w,
            b,
            lr=spec.lr,
            epochs=spec.epochs,
            variant=variant,
            log_every=log_every,
            log=log,
            batches=spec.batches,
            **spec.optimizer_options,
            **parallel,
        )
        costs, weight, bias = (self.to_numpy(a) for a in native)
        seconds = time.perf_counter() - start

        def accuracy(x: np.ndarray, y: np.ndarray) -> float:
            with np.errstate(all="ignore"):  # a diverged run's parameters may be inf
                logits = x.astype(self.np_dtype) @ weight.T + bias
            return float(np.mean(np.argmax(logits, axis=1) == y))

        bad = np.flatnonzero(~np.isfinite(costs))
        result = TrainResult(
            backend=self.name,
            variant=variant,
            dtype=self.dtype,
            device=self.device,
            spec=spec.name,
            lr=spec.lr,
            epochs=spec.epochs,
            costs=costs,
            weight=weight,
            bias=bias,
            accuracy=accuracy(spec.x_train, spec.y_train),
            seconds=seconds,
            settings=self.settings(),
            test_accuracy=None if spec.x_test is None or spec.y_test is None else accuracy(spec.x_test, spec.y_test),
            diverged_at=int(bad[0]) if bad.size else None,
            workers=workers,
        )
        if bad.size:
            if len(costs) != bad[0] + 1:  # every loop stops at its first non-finite cost
                raise AssertionError(f"{result.label} kept training after diverging at epoch {bad[0]}")
            raise TrainingDiverged(result)
        return result

    def _loss_args(
        self,
        name: str,
        value: Any,
        target: Any,
        weight: Any,
        ignore_index: Any,
        reduction: str,
        label_smoothing: Any = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        """A loss's arguments, checked on the host (``checks``) and converted for the framework.

        Returns (input, target, options) as the backend's function takes them. With
        ``label_smoothing`` None the loss has no such option, nor probability targets (nll_loss).
        """
        x = checks.float_input(name, value, self.np_dtype)
        num_classes = x.shape[checks.class_axis(x.ndim)]
        if num_classes == 0:
            raise BackendError(f"{name}: expected at least one class, got shape {x.shape}")
        ignore_index = checks.int64("ignore_index", ignore_index)
        t = checks.target(target, x.shape, self.np_dtype, ignore_index, probabilities=label_smoothing is not None)
        w = checks.class_weight(weight, num_classes, self.np_dtype)
        options: dict[str, Any] = {
            "weight": None if w is None else self.to_native(w),
            "ignore_index": ignore_index,
            "reduction": checks.choice("reduction", reduction, checks.REDUCTIONS),
        }
        if label_smoothing is not None:
            options["label_smoothing"] = checks.label_smoothing(label_smoothing)
        return self.to_native(x), self.to_native(t), options


def host_settings() -> dict[str, Any]:
    """Facts about the machine that every result records."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
