"""softmax-rosetta: one softmax-classification lesson in NumPy, PyTorch and JAX, from one shared spec.

    import softmax_rosetta as sr
    be = sr.get_backend("jax", device="cpu", dtype="float32")
    result = be.train(sr.load_spec("seed"))      # result.costs (1001,), result.weight (3, 4), result.bias (3,)

This package is the library: the spec (``spec``), the data sets and batches (``data``), initial
parameters (``init``), the backend API (``backend``, ``checks``, ``results``), the registry of
backends (``registry``, each framework imported only when its backend is asked for) and the
comparison checks (``compare``). The lesson itself, written three times, is in
``softmax_rosetta.backends``; the command line, the agreement report, the benchmark and the docs
generator are in ``softmax_rosetta.tools``, which the library never imports.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import Backend
    from .checks import BackendError
    from .models import load_model, save_model
    from .registry import BACKENDS, BackendUnavailable, available_backends, get_backend
    from .results import TrainingDiverged, TrainResult
    from .spec import Spec, SpecError, Tolerance, bundled_specs, load_spec

# Each public name and the module it comes from, imported on first use (PEP 562): ``import
# softmax_rosetta`` loads no NumPy, so the command line can set up its signal handling first.
_EXPORTS = {
    "Backend": "backend",
    "BackendError": "checks",
    "BACKENDS": "registry",
    "BackendUnavailable": "registry",
    "available_backends": "registry",
    "get_backend": "registry",
    "load_model": "models",
    "save_model": "models",
    "TrainingDiverged": "results",
    "TrainResult": "results",
    "Spec": "spec",
    "SpecError": "spec",
    "Tolerance": "spec",
    "bundled_specs": "spec",
    "load_spec": "spec",
}

try:
    __version__ = _version("softmax-rosetta")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"

__all__ = [  # the names of _EXPORTS, written out for readers and linters
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Spec",
    "SpecError",
    "Tolerance",
    "TrainResult",
    "TrainingDiverged",
    "available_backends",
    "bundled_specs",
    "get_backend",
    "load_model",
    "load_spec",
    "save_model",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # found by normal lookup from now on
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
