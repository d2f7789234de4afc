"""One backend set up on the spec, for the concept table's computations of the docs' numbers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from softmax_rosetta.backend import Backend
from softmax_rosetta.registry import BACKENDS, get_backend
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec

from .base import DTYPE, RosettaError

# runs(backend, variant): the spec's full training run in float32 on the CPU
Runs = Callable[[str, str], TrainResult]


class Context:
    """One backend on the spec, float32 on the CPU, with helpers for the table's computations.

    logits: the spec's initial model on its data (N, C), computed once in NumPy (as
    ``softmax_rosetta.compare.forward_outputs`` does) and handed to every backend, so the backends' numbers
    differ only by their own code. x, w, b, y, logits_n: the same as native arrays.
    """

    def __init__(self, name: str, spec: Spec, dtype: str = DTYPE, runs: Runs | None = None):
        self.name: str = name
        self.spec: Spec = spec
        self.be: Backend = get_backend(name, device="cpu", dtype=dtype)
        self.dtype: np.dtype[Any] = self.be.np_dtype

        def cast(a: Any) -> np.ndarray:
            return np.asarray(a).astype(self.dtype)

        self.logits: np.ndarray = cast(spec.x_train) @ cast(spec.init_weight).T + cast(spec.init_bias)
        self.y_host: np.ndarray = np.asarray(spec.y_train, dtype=np.int64)
        self.x: Any = self.native(spec.x_train)
        self.w: Any = self.native(spec.init_weight)
        self.b: Any = self.native(spec.init_bias)
        self.y: Any = self.native(self.y_host)
        self.logits_n: Any = self.native(self.logits)
        self._runs: dict[tuple[str, int | None], TrainResult] = {}
        self._shared_runs = runs

    def module(self, module: str) -> ModuleType:
        """This backend's module ``module`` (functional, model, train, fast)."""
        return importlib.import_module(f"{BACKENDS[self.name].module.rpartition('.')[0]}.{module}")

    def native(self, array: Any) -> Any:
        """A host array (floats cast to the context's dtype, integers to int64) as the framework's array."""
        a = np.asarray(array)
        a = a.astype(self.dtype) if a.dtype.kind == "f" else a.astype(np.int64) if a.dtype.kind in "iu" else a
        return self.be.to_native(a)

    def to_numpy(self, value: Any) -> Any:
        """A computation's result on the host: text and shapes as they are, the rest as a NumPy array."""
        if isinstance(value, (str, tuple)):
            return value
        if isinstance(value, (int, float, np.ndarray, np.generic)):
            return np.asarray(value)
        return np.asarray(self.be.to_numpy(value))

    def call_native(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """``module:function`` of this backend on native arguments, a native result."""
        module, _, name = target.partition(":")
        fn = getattr(self.module(module), name, None)
        if fn is None:
            raise RosettaError(f"rosetta: {self.name}: {module}.py has no {name!r} (used for the numbers)")
        return fn(*args, **kwargs)

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """``module:function`` of this backend on native arguments, the result on the host."""
        return self.to_numpy(self.call_native(target, *args, **kwargs))

    def run(self, variant: str = "lesson", epochs: int | None = None) -> TrainResult:
        """The backend's training run on the spec (cached)."""
        key = (variant, epochs)
        if key not in self._runs:
            if epochs is None and self._shared_runs is not None:
                self._runs[key] = self._shared_runs(self.name, variant)
            else:
                self._runs[key] = self.be.train(self.spec, variant=variant, epochs=epochs)
        return self._runs[key]
