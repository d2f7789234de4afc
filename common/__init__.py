"""softmax-rosetta's shared core: the spec, the backend registry and the common API.

    from common import get_backend, load_spec, available_backends
    be = get_backend("jax", device="cpu", dtype="float32")
    result = be.train(load_spec("seed"))
"""

from .backend import Backend, BackendError, TrainingDiverged, TrainResult
from .registry import BACKENDS, BackendUnavailable, available_backends, get_backend
from .spec import Spec, SpecError, Tolerance, bundled_specs, load_spec

__all__ = [
    "BACKENDS", "Backend", "BackendError", "BackendUnavailable", "Spec", "SpecError", "Tolerance",
    "TrainResult", "TrainingDiverged", "available_backends", "bundled_specs", "get_backend", "load_spec",
]
