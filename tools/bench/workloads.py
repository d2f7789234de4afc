"""The benchmark's workloads: what each one is, and its arrays.

T  the seed spec, 8 x 4 -> 3: per-step overhead, compared to the fastest variant;
M  the digits, all 1797 x 64 -> 10 (standardised), compared to the floor;
L  synthetic Gaussian blobs, 100,000 x 784 -> 10 (``--size`` rows), compared to the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from softmax_rosetta.backend import BackendError


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


def check_keys(keys: tuple[str, ...]) -> None:
    """A usage error for a workload that isn't one of T, M, L."""
    for key in keys:
        if key not in WORKLOADS:
            raise _unknown(key)


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
