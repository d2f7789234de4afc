"""The machine's floor: how fast an epoch could possibly be.

An epoch must read X (N D 4 bytes) and do two matmuls with it (4 N D C flops), so no
implementation can take less than

    floor = max(N D 4 / memory read bandwidth, 4 N D C / float32 matmul rate)    per epoch.

An X that fits in half the CPU's last-level cache (M's digits: 460 KB) stays there from one
epoch to the next, so memory bandwidth is no limit for it: its floor is the arithmetic alone,
4 N D C / float32 matmul rate.

``measure`` runs in a process of its own (``softmax_rosetta.tools.worker``), with the threads
and CPUs the backends get, once before the backends and once after; ``better`` keeps the
higher of each rate (another process busy during one measurement can only lower it), and
``per_epoch`` turns the rates into each workload's floor.

On the CPU the rates are NumPy's (OpenBLAS's). On a GPU they are measured through a backend
that offers the device, with its public API only (``to_native``, the native arrays' ``sum``
and ``@``, ``synchronize``), so no framework is named here: the parent passes the first
backend of the run that sees a GPU. Its float32 matmuls run as that backend runs them (the
torch backend turns TF32 off when it is made); a faster mode could only lower the floor.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..environment import blas_info, process
from ..worker import progress


def measure(
    *, device: str, threads: int, repeats: int, read_bytes: int, matmul_n: int, backend: str | None = None
) -> dict[str, Any]:
    """Memory read bandwidth (bytes / s) and float32 matmul rate (flop / s), each the median of
    ``repeats``: on the CPU with NumPy, on a GPU through ``backend``."""
    start = time.perf_counter()
    if device == "cpu":
        info = _cpu(threads, repeats, read_bytes, matmul_n)
    else:
        if backend is None:
            raise ValueError(f"the floor on {device!r} is measured through a backend; none given")
        info = _device(backend, device, repeats, read_bytes, matmul_n)
    return {
        **info,
        "threads": threads,
        "blas": blas_info(),
        "process": process(),
        "seconds_total": time.perf_counter() - start,
    }


def _median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up: page faults, thread pools, caches, compiling
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _cpu(threads: int, repeats: int, read_bytes: int, matmul_n: int) -> dict[str, Any]:
    """Bandwidth: a float32 array of ``read_bytes`` (far larger than the caches) read once, two
    ways: split into one slice per thread, each summed by np.add.reduce in its own Python
    thread (NumPy releases the GIL), and as a matrix-vector product with ones (OpenBLAS's
    sgemv, its own threads). The larger is the machine's read bandwidth for this run.
    Matmul: an n x n float32 matmul (OpenBLAS sgemm), 2 n^3 flops.
    """
    bandwidth, nbytes = _read_bandwidth(threads, repeats, read_bytes)
    progress("floor: matmul")
    n = matmul_n
    rng = np.random.default_rng(0)
    x, y = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    t, times = _median_seconds(lambda: np.matmul(x, y, out=out), repeats)
    best = max(bandwidth, key=lambda k: bandwidth[k]["bytes_per_s"])
    return {
        "device": "cpu",
        "cache_bytes": cache_bytes(),
        "bandwidth": bandwidth[best]["bytes_per_s"],
        "bandwidth_method": best,
        "bandwidth_methods": bandwidth,
        "read_bytes": nbytes,
        "matmul_rate": 2 * n**3 / t,
        "matmul_n": n,
        "matmul_seconds": times,
    }


def cache_bytes(cpu: int = 0) -> int | None:
    """The size of the CPU's largest cache (its last level: L3 on most machines), from Linux's
    sysfs; None where it can't be read."""
    sizes = []
    for index in Path(f"/sys/devices/system/cpu/cpu{cpu}/cache").glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        if text[-1:] in units and text[:-1].isdigit():
            sizes.append(int(text[:-1]) * units[text[-1]])
        elif text.isdigit():
            sizes.append(int(text))
    return max(sizes, default=None)


def _read_bandwidth(threads: int, repeats: int, read_bytes: int) -> tuple[dict[str, dict[str, Any]], int]:
    cols = 1024
    a = np.ones((read_bytes // 4 // cols, cols), dtype=np.float32)
    slices = np.array_split(a, threads)
    ones = np.ones(cols, dtype=np.float32)

    def threaded_sum() -> None:
        workers = [threading.Thread(target=np.add.reduce, args=(s, None)) for s in slices]
        for t in workers:
            t.start()
        for t in workers:
            t.join()

    progress("floor: memory read")
    bandwidth = {}
    for method, fn in (("add.reduce", threaded_sum), ("sgemv", lambda: a @ ones)):
        t, times = _median_seconds(fn, repeats)
        bandwidth[method] = {"bytes_per_s": a.nbytes / t, "seconds": times}
    return bandwidth, a.nbytes


def _device(name: str, device: str, repeats: int, read_bytes: int, matmul_n: int) -> dict[str, Any]:
    """Through the backend ``name`` on ``device``: a float32 array of ``read_bytes`` read once by
    its ``sum()``, and an n x n float32 ``@``, each timed until ``synchronize`` returns."""
    from softmax_rosetta.registry import get_backend

    be = get_backend(name, device=device, dtype="float32")

    def timed(fn: Callable[[], Any]) -> Callable[[], None]:
        return lambda: be.synchronize(fn())

    nbytes = read_bytes // 4 * 4
    a = be.to_native(np.ones(nbytes // 4, dtype=np.float32))
    progress("floor: memory read")
    t, times = _median_seconds(timed(a.sum), repeats)
    bandwidth = nbytes / t
    del a
    progress("floor: matmul")
    n = matmul_n
    rng = np.random.default_rng(0)
    x, y = (be.to_native(rng.random((n, n), dtype=np.float32)) for _ in range(2))
    tm, mtimes = _median_seconds(timed(lambda: x @ y), repeats)
    method = f"{name} sum"
    return {
        "device": device,
        "backend": {"name": name, **be.settings()},
        "bandwidth": bandwidth,
        "bandwidth_method": method,
        "bandwidth_methods": {method: {"bytes_per_s": bandwidth, "seconds": times}},
        "read_bytes": nbytes,
        "matmul_rate": 2 * n**3 / tm,
        "matmul_n": n,
        "matmul_seconds": mtimes,
    }


def better(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The floor from two measurements: the higher bandwidth and the higher matmul rate."""
    floor = dict(before)
    floor["measured"] = [
        {k: m.get(k) for k in ("bandwidth", "bandwidth_method", "matmul_rate")} for m in (before, after) if m.get("ok")
    ]
    if after.get("ok"):
        if after["bandwidth"] > floor["bandwidth"]:
            floor.update(bandwidth=after["bandwidth"], bandwidth_method=after["bandwidth_method"])
        floor["matmul_rate"] = max(floor["matmul_rate"], after["matmul_rate"])
    return floor


def per_epoch(workloads: list[dict[str, Any]], floor: dict[str, Any]) -> None:
    """Each workload's floor per epoch (``floor_s``), and its two parts, from the floor's rates;
    for an X that stays in the cache (``x_in_cache``: at most half of ``cache_bytes``), the
    arithmetic part alone."""
    cache = floor.get("cache_bytes")
    for wl in workloads:
        wl["floor_read_s"] = wl["x_bytes"] / floor["bandwidth"]
        wl["floor_matmul_s"] = wl["flops_per_epoch"] / floor["matmul_rate"]
        wl["x_in_cache"] = bool(cache) and 2 * wl["x_bytes"] <= cache
        wl["cache_bytes"] = cache
        wl["floor_s"] = wl["floor_matmul_s"] if wl["x_in_cache"] else max(wl["floor_read_s"], wl["floor_matmul_s"])


def fractions(runs: list[dict[str, Any]], workloads: list[dict[str, Any]], floor: dict[str, Any]) -> None:
    """Each run's share of the floor's two rates, at its median epoch, on a floor workload:
    ``fma_fraction``, its flops (4 N D C) over the time the floor's sgemm takes for them (the
    fraction of the machine's multiply-add rate it reaches), and ``read_fraction``, X's bytes over
    the time the floor's read takes for them (None for an X that stays in the cache)."""
    by_name = {w["name"]: w for w in workloads}
    for r in runs:
        wl = by_name.get(r.get("workload", ""))
        if not r.get("ok") or wl is None or wl.get("versus") != "floor":
            continue
        per_s = 1.0 / r["median_per_epoch"]
        r["fma_fraction"] = wl["flops_per_epoch"] * per_s / floor["matmul_rate"]
        r["read_fraction"] = None if wl.get("x_in_cache") else wl["x_bytes"] * per_s / floor["bandwidth"]
