"""The benchmark's workloads: what each one is, and its arrays.

T  the seed spec, 8 x 4 -> 3: per-step overhead, compared to the fastest variant;
M  the digits, all 1797 x 64 -> 10 (standardised), compared to the floor;
L  synthetic Gaussian blobs, 100,000 x 784 -> 10 (``--size`` rows), compared to the floor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from softmax_rosetta.backend import BackendError

from ..options import UsageError


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    epochs: int  # full run
    quick_epochs: int  # --quick
    versus: str  # "floor" or "fastest": what the ratio column divides by


WORKLOADS = {
    "T": Workload("T", "the seed spec", 1000, 300, "fastest"),
    "M": Workload("M", "digits", 500, 50, "floor"),
    "L": Workload("L", "synthetic", 10, 2, "floor"),
}
L_ROWS = {"cpu": 100_000, "cuda": 1_000_000}
L_ROWS_QUICK = 20_000
L_FEATURES, L_CLASSES = 784, 10
# copies of a workload's arrays held at once, at the most: the one made here (while it is written
# out), then in a timing process the one it reads and the framework's own (JAX copies; torch shares)
COPIES = 2


def check_keys(keys: tuple[str, ...]) -> None:
    """A usage error for a workload that isn't one of T, M, L."""
    for key in keys:
        if key not in WORKLOADS:
            raise UsageError(_unknown(key).args[0])  # the command line's mistake


def l_bytes(rows: int) -> int:
    """The bytes of L's arrays at ``rows`` rows: x (float32) and y (int64)."""
    return rows * (L_FEATURES * 4 + 8)


def check_memory(keys: tuple[str, ...], rows: int, *, copies: int) -> None:
    """A usage error, before anything is allocated, when ``copies`` of L's arrays at ``rows`` rows
    (``--size``) won't fit in the memory this machine has available (MemAvailable)."""
    if "L" not in keys:
        return
    need, available = copies * l_bytes(rows), available_memory()
    if available is not None and need > available:
        raise UsageError(
            f"--size: {rows:,} rows of L need about {_size(need)} of memory ({copies} copies of "
            f"{rows:,} x {L_FEATURES} float32); this machine has {_size(available)} available"
        )


def available_memory() -> int | None:
    """The bytes of memory available to a new allocation: MemAvailable (Linux), else the free pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError


def make_data(key: str, rows: int | None = None) -> dict[str, Any]:
    """One workload's arrays: x (N, D) float32, y (N,) int64, weight (C, D), bias (C,) float32, lr."""
    from softmax_rosetta import init
    from softmax_rosetta.data import load_dataset, standardize

    if key == "T":
        from softmax_rosetta.spec import load_spec

        spec = load_spec("seed")
        x, y, (w, b), lr = spec.x_train, spec.y_train, (spec.init_weight, spec.init_bias), spec.lr
        title = "seed spec"
    elif key == "M":
        x, y = load_dataset("digits")
        (x,) = standardize(x)
        w, b = init.torch_linear(10, x.shape[1], seed=0)
        lr = 0.1
        title = "digits (all rows, standardised)"
    elif key == "L":
        x, y = _blobs(rows or L_ROWS["cpu"], L_FEATURES, L_CLASSES)
        w, b = init.normal(L_CLASSES, L_FEATURES, std=0.01, seed=0)
        lr = 0.01
        title = "synthetic Gaussian blobs"
    else:
        raise _unknown(key)
    return {
        "x": np.ascontiguousarray(x, dtype=np.float32),
        "y": np.asarray(y, dtype=np.int64),
        "weight": np.asarray(w, dtype=np.float32),
        "bias": np.asarray(b, dtype=np.float32),
        "lr": np.float64(lr),
        "title": title,
    }


def save(key: str, path: str, *, rows: int, epochs: int) -> dict[str, Any]:
    """Make one workload's arrays, write them to ``path`` (.npz, for the timing processes), and
    return its description: name, title, shape, epochs, lr, and the bytes and flops of an epoch."""
    data = make_data(key, rows if key == "L" else None)
    np.savez(path, **{k: v for k, v in data.items() if k != "title"})
    n, d = data["x"].shape
    c = data["weight"].shape[0]
    return {
        "name": key,
        "title": data["title"],
        "n": n,
        "d": d,
        "c": c,
        "epochs": epochs,
        "steps": epochs + 1,
        "lr": float(data["lr"]),
        "versus": WORKLOADS[key].versus,
        "x_bytes": int(data["x"].nbytes),
        "flops_per_epoch": 4 * n * d * c,
        "data": path,
    }


def _unknown(key: str) -> BackendError:
    return BackendError(f"--workloads: unknown workload {key!r}; known: {', '.join(WORKLOADS)}")


def _blobs(n: int, d: int, c: int, seed: int = 0, separation: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """``softmax_rosetta.data.synthetic``'s Gaussian blobs, drawn straight in float32 and in row chunks, so
    that 1,000,000 x 784 rows need their 3 GB and no float64 copy."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, separation / np.sqrt(2.0 * d), size=(c, d)).astype(np.float32)
    y = rng.permutation(np.arange(n) % c).astype(np.int64)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        rows = slice(start, min(n, start + 65536))
        rng.standard_normal(out=x[rows], dtype=np.float32)
        x[rows] += centres[y[rows]]
    return x, y
