"""Shared fixtures: backends by name, each skipped with its reason when its framework is missing.

Environment:
  SOFTMAX_ROSETTA_BACKENDS=numpy,jax   test only these backends (default: all known)
  SOFTMAX_ROSETTA_REQUIRE=all          a missing framework fails instead of skipping (CI sets it, so
                                       a backend that failed to install can't pass as a skip)
"""

import os

import numpy as np
import pytest

from softmax_rosetta import BACKENDS, get_backend, load_spec
from softmax_rosetta.registry import backend_class, missing_packages

SELECTED = [b.strip() for b in os.environ.get("SOFTMAX_ROSETTA_BACKENDS", ",".join(BACKENDS)).split(",") if b.strip()]
REQUIRE_ALL = os.environ.get("SOFTMAX_ROSETTA_REQUIRE", "") == "all"
DTYPES = ("float32", "float64")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """torch on one thread for the tests, where torch is installed and selected.

    The tests' tensors are tiny (8 x 4 up to a few thousand rows), so torch runs their ops on
    one thread anyway and the numbers don't change; but its idle second thread spins against
    JAX's and OpenBLAS's pools on a 2-core machine: measured about 30x slower per training step
    (12 ms against 0.4 ms) when the cores are busy. Benchmarks pin threads themselves.
    """
    if "torch" in SELECTED and not missing_packages("torch"):
        import torch

        torch.set_num_threads(1)
    yield


def require_backend(name):
    """Skip (or, with SOFTMAX_ROSETTA_REQUIRE=all, fail) when a backend's framework is missing."""
    missing = missing_packages(name)
    if missing:
        reason = f"backend {name!r} not installed: needs {', '.join(missing)} (pip install 'softmax-rosetta[{BACKENDS[name].extra}]')"
        if REQUIRE_ALL:
            pytest.fail(reason + " and SOFTMAX_ROSETTA_REQUIRE=all")
        pytest.skip(reason)
    return backend_class(name)


def require_device(name, device):
    cls = require_backend(name)
    if device not in cls.available_devices():
        pytest.skip(f"{name} on {device}: no such device visible on this machine")
    return cls


@pytest.fixture(params=SELECTED)
def backend_name(request):
    require_backend(request.param)
    return request.param


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


@pytest.fixture
def be(backend_name, dtype):
    """Each selected backend, on the CPU, in each dtype."""
    return get_backend(backend_name, dtype=dtype)


@pytest.fixture(scope="session")
def seed_spec():
    return load_spec("seed")


def assert_within(actual, expected, atol, what="", rtol=0.0):
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
        f"at {np.unravel_index(worst, diff.shape)} (actual {actual.flat[worst]!r}, expected {expected.flat[worst]!r})")


@pytest.fixture(scope="session")
def trained(seed_spec):
    """trained(backend, variant, dtype, device="cpu"): the seed spec's run, trained once per session."""
    cache = {}

    def run(name, variant, dtype, device="cpu"):
        key = (name, variant, dtype, device)
        if key not in cache:
            require_device(name, device)
            cache[key] = get_backend(name, device=device, dtype=dtype).train(seed_spec, variant=variant)
        return cache[key]

    return run


def all_runs():
    """(backend, variant) for every selected backend's every training variant, without importing frameworks."""
    variants = {"numpy": ("lesson",), "torch": ("lesson",), "jax": ("lesson", "fused")}
    return [(name, v) for name in SELECTED for v in variants[name]]
