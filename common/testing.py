"""Helpers for testing backends: for this project's tests, and for anyone adding a backend.

    from softmax_rosetta.testing import assert_within, require_backend, selected_backends

Environment:
  SOFTMAX_ROSETTA_BACKENDS=numpy,jax   test only these backends (default: all known)
  SOFTMAX_ROSETTA_REQUIRE=all          a missing framework fails instead of skipping (CI sets it, so
                                       a backend that failed to install can't pass as a skip)

``require_backend`` and ``require_device`` skip (or fail) through pytest, imported only when
they are called.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .backend import Backend
from .registry import BACKENDS, backend_class, missing_packages
from .spec import DTYPES

__all__ = [
    "DTYPES",
    "assert_within",
    "computes_in",
    "require_backend",
    "require_device",
    "require_dtype",
    "require_variant",
    "selected_backends",
    "training_runs",
]


def selected_backends() -> list[str]:
    """The backends to test: SOFTMAX_ROSETTA_BACKENDS, or every known one."""
    text = os.environ.get("SOFTMAX_ROSETTA_BACKENDS", ",".join(BACKENDS))
    return [b.strip() for b in text.split(",") if b.strip()]


def require_backend(name: str) -> type[Backend]:
    """The backend's class; skip the test (fail, with SOFTMAX_ROSETTA_REQUIRE=all) when its framework is missing."""
    import pytest

    missing = missing_packages(name)
    if missing:
        reason = f"backend {name!r} not installed: needs {', '.join(missing)} ({BACKENDS[name].install})"
        if os.environ.get("SOFTMAX_ROSETTA_REQUIRE", "") == "all":
            pytest.fail(reason + " and SOFTMAX_ROSETTA_REQUIRE=all")
        pytest.skip(reason)
    return backend_class(name)


def require_variant(name: str, variant: str) -> type[Backend]:
    """The backend's class; skip the test (fail, with SOFTMAX_ROSETTA_REQUIRE=all) when ``variant``
    needs a package that isn't installed."""
    import pytest

    cls = require_backend(name)
    reason = cls.unavailable(variant)
    if reason:
        if os.environ.get("SOFTMAX_ROSETTA_REQUIRE", "") == "all":
            pytest.fail(f"{name} {reason} and SOFTMAX_ROSETTA_REQUIRE=all")
        pytest.skip(f"{name} {reason}")
    return cls


def require_device(name: str, device: str) -> type[Backend]:
    """The backend's class; skip the test when ``device`` isn't visible to it on this machine."""
    import pytest

    cls = require_backend(name)
    if device not in cls.available_devices():
        pytest.skip(f"{name} on {device}: no such device visible on this machine")
    return cls


def require_dtype(name: str, dtype: str, device: str = "cpu") -> type[Backend]:
    """The backend's class; skip the test where the backend declares it can't compute in ``dtype``
    on ``device`` (``Backend.no_float64``, with its reason)."""
    import pytest

    cls = require_backend(name)
    if dtype == "float64" and device in cls.no_float64:
        pytest.skip(f"{name} can't compute in float64 on {device}: {cls.no_float64[device]}")
    return cls


def computes_in(name: str, dtype: str, device: str = "cpu") -> bool:
    """Whether backend ``name`` computes in ``dtype`` on ``device`` (it declares no ``no_float64`` there):
    for a test over every backend that leaves out, not skips, the ones a dtype doesn't apply to."""
    return not (dtype == "float64" and device in backend_class(name).no_float64)


def training_runs() -> list[tuple[str, str]]:
    """(backend, variant) for each selected backend's general training variants (those that train
    any spec); a backend that isn't installed is listed with its lesson loop, and skips."""
    runs = []
    for name in selected_backends():
        variants = backend_class(name).general_variants() if not missing_packages(name) else ("lesson",)
        runs += [(name, v) for v in variants]
    return runs


def assert_within(actual: Any, expected: Any, atol: float, what: str = "", rtol: float = 0.0) -> None:
    """|actual - expected| <= atol + rtol * |expected| everywhere, reported with the largest difference."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if not actual.size:
        return
    diff = np.abs(actual - expected)
    allowed = atol + rtol * np.abs(expected)
    worst = int(np.argmax(diff - allowed))
    assert np.all(diff <= allowed), (
        f"{what}: |diff| {diff.flat[worst]:.3g} > tolerance {allowed.flat[worst]:.3g} "
        f"at {np.unravel_index(worst, diff.shape)} (actual {actual.flat[worst]!r}, expected {expected.flat[worst]!r})"
    )
