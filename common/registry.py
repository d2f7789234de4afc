"""Backends by name, each framework imported only when its backend is asked for.

    be = get_backend("jax", device="cpu", dtype="float32")

A user with only NumPy installed gets the NumPy backend; asking for a backend whose
framework is missing raises ``BackendUnavailable`` naming the pip extra to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .backend import Backend
from .checks import BackendError, findable


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # the adapter module, imported on demand
    cls: str  # the Backend subclass in it
    requires: tuple[str, ...]  # top-level packages the framework needs
    extra: str  # the pip extra that installs them


BACKENDS: dict[str, BackendInfo] = {
    "numpy": BackendInfo("numpy", f"{__package__}.backends.numpy_impl.backend", "NumpyBackend", ("numpy",), ""),
    "torch": BackendInfo("torch", f"{__package__}.backends.torch_impl.backend", "TorchBackend", ("torch",), "torch"),
    "jax": BackendInfo(
        "jax", f"{__package__}.backends.jax_impl.backend", "JaxBackend", ("jax", "flax", "optax"), "jax"
    ),
}


# The independent reference: pure NumPy, the same on every machine to within a few float64 ulps.
# Its float64 run of the lesson's loop is what expected costs and the report's deviations measure against.
REFERENCE_BACKEND = "numpy"


class BackendUnavailable(BackendError):
    """The backend is known but its framework is not installed (or fails to import)."""


def missing_packages(name: str) -> list[str]:
    """The packages a backend needs that aren't installed, found without importing them."""
    return [pkg for pkg in _info(name).requires if not findable(pkg)]


def is_installed(name: str) -> bool:
    return not missing_packages(name)


def available_backends() -> list[str]:
    """Names of the backends whose frameworks are installed, in a fixed order."""
    return [name for name in BACKENDS if is_installed(name)]


def backend_class(name: str) -> type[Backend]:
    """Import a backend's adapter (and with it its framework) and return its class."""
    info = _info(name)
    missing = missing_packages(name)
    if missing:
        raise BackendUnavailable(
            f"backend {name!r} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'softmax-rosetta[{info.extra}]'"
        )
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r}: its framework failed to import: {exc}") from exc
    return getattr(module, info.cls)


def get_backend(name: str, device: str = "cpu", dtype: str = "float32") -> Backend:
    """The backend called ``name`` ("numpy", "torch", "jax") on ``device`` in ``dtype``."""
    return backend_class(name)(device=device, dtype=dtype)


def _info(name: str) -> BackendInfo:
    if name not in BACKENDS:
        raise BackendError(f"backend: unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name]
