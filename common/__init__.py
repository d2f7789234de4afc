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

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .backend import Backend
from .checks import BackendError
from .registry import BACKENDS, BackendUnavailable, available_backends, get_backend
from .results import TrainingDiverged, TrainResult
from .spec import Spec, SpecError, Tolerance, bundled_specs, load_spec

try:
    __version__ = _version("softmax-rosetta")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"

__all__ = [
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
    "load_spec",
]
