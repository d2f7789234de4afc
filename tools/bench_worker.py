"""One backend's timings (or the machine's floor) for ``softmax-rosetta bench``, in a process of its own.

    python -m softmax_rosetta.tools.bench_worker --plan PLAN.json --result RESULT.json

PLAN.json names what to do: ``{"kind": "floor", ...}`` measures the machine's memory read
bandwidth and float32 matmul rate; ``{"kind": "backend", "backend": "torch", ...}`` times every
training variant of one backend on each workload's data (an .npz the parent wrote). Threads and
CPUs are fixed by the parent before this process starts (environment variables and CPU
affinity, which thread pools created at import inherit); this process sets the frameworks' own
thread counts to the same number and records what is in force.

Progress goes to stdout as ``progress<TAB>label`` lines, one per timed run, for the parent's
progress bar; the result, or ``{"ok": false, "error": ...}``, to RESULT.json.

How a variant is timed: the backend's training hook (``Backend._train``, what ``Backend.train``
runs, without its host-side conversions and accuracy) on arrays already on the device, until
the results are ready: ``jax.block_until_ready`` for JAX, ``torch.cuda.synchronize`` on a GPU.
The first run (the warm-up) includes compiling where a variant compiles; then at least
``repeats`` timed runs, more while they add up to less than ``min_seconds``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import threading
import time
import traceback
from typing import Any, Sequence

# set by the parent for the benchmark's processes; recorded with the results
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS",
               "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def progress(label: str) -> None:
    print(f"progress\t{label}", flush=True)


# --- what the process runs with ---------------------------------------------------------------

def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries loaded in this process, with the kernel OpenBLAS picked and its threads.

    threadpoolctl when it is installed; otherwise the same facts through ctypes, from the
    libraries listed in /proc/self/maps (OpenBLAS's own ``openblas_get_corename``).
    """
    try:
        import threadpoolctl
    except ImportError:
        pass
    else:
        return [{k: v for k, v in info.items() if k in ("internal_api", "version", "architecture",
                                                          "num_threads", "threading_layer", "filepath")}
                for info in threadpoolctl.threadpool_info()]
    found = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = sorted({line.split()[-1] for line in f if "/" in line and ".so" in line})
    except OSError:
        return found
    for path in paths:
        name = os.path.basename(path).lower()
        if "openblas" in name:
            lib = ctypes.CDLL(path)
            info: dict[str, Any] = {"internal_api": "openblas", "filepath": path}
            for key, fn, restype in (("architecture", "get_corename", ctypes.c_char_p),
                                     ("num_threads", "get_num_threads", ctypes.c_int),
                                     ("config", "get_config", ctypes.c_char_p)):
                for symbol in (f"scipy_openblas_{fn}64_", f"openblas_{fn}64_", f"openblas_{fn}"):
                    f = getattr(lib, symbol, None)
                    if f is not None:
                        f.restype = restype
                        value = f()
                        info[key] = value.decode() if isinstance(value, bytes) else value
                        break
            found.append(info)
        elif name.startswith(("libmkl_rt", "libmkl_core")):
            found.append({"internal_api": "mkl", "filepath": path})
    return found


def process_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "pid": os.getpid(), "python": platform.python_version(),
        "env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus"] = sorted(os.sched_getaffinity(0))
    return info


# --- the floor --------------------------------------------------------------------------------

def _median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up: page faults, thread pools, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def floor(plan: dict[str, Any]) -> dict[str, Any]:
    """Memory read bandwidth (bytes / s) and float32 matmul rate (flop / s), each the median of repeats.

    Bandwidth: a float32 array of ``read_bytes`` (far larger than the caches) read once, two
    ways: split into one slice per thread, each summed by np.add.reduce in its own Python
    thread (NumPy releases the GIL), and as a matrix-vector product with ones (OpenBLAS's
    sgemv, its own threads). The larger is the machine's read bandwidth for this run.
    Matmul: an n x n float32 matmul (OpenBLAS sgemm), 2 n^3 flops.
    """
    import numpy as np

    threads, repeats = plan["threads"], plan["repeats"]
    if plan.get("device", "cpu") == "cuda":
        return _cuda_floor(plan)
    n_elems = plan["read_bytes"] // 4
    cols = 1024
    a = np.ones((n_elems // cols, cols), dtype=np.float32)
    slices = np.array_split(a, threads)

    def threaded_sum():
        workers = [threading.Thread(target=np.add.reduce, args=(s, None)) for s in slices]
        for t in workers:
            t.start()
        for t in workers:
            t.join()

    ones = np.ones(cols, dtype=np.float32)
    bandwidth = {}
    progress("floor: memory read")
    t, times = _median_seconds(threaded_sum, repeats)
    bandwidth["add.reduce"] = {"bytes_per_s": a.nbytes / t, "seconds": times}
    t, times = _median_seconds(lambda: a @ ones, repeats)
    bandwidth["sgemv"] = {"bytes_per_s": a.nbytes / t, "seconds": times}
    del a, slices
    progress("floor: matmul")
    n = plan["matmul_n"]
    rng = np.random.default_rng(0)
    x, y = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    t, times = _median_seconds(lambda: np.matmul(x, y, out=out), repeats)
    best = max(bandwidth, key=lambda k: bandwidth[k]["bytes_per_s"])
    return {"device": "cpu", "bandwidth": bandwidth[best]["bytes_per_s"], "bandwidth_method": best,
            "bandwidth_methods": bandwidth, "read_bytes": n_elems * 4,
            "matmul_rate": 2 * n ** 3 / t, "matmul_n": n, "matmul_seconds": times,
            "threads": threads, "blas": blas_info(), "process": process_info()}


def _cuda_floor(plan: dict[str, Any]) -> dict[str, Any]:
    """The GPU's floor, with torch: a float32 tensor read once by sum(), and a float32 matmul
    with TF32 off (as the backends run), timed with torch.cuda.synchronize."""
    import torch

    torch.backends.cuda.matmul.fp32_precision = "ieee"

    def timed(fn):
        def run():
            fn()
            torch.cuda.synchronize()
        return run

    a = torch.ones(plan["read_bytes"] // 4, dtype=torch.float32, device="cuda")
    progress("floor: memory read")
    t, times = _median_seconds(timed(a.sum), plan["repeats"])
    bandwidth = a.numel() * 4 / t
    del a
    progress("floor: matmul")
    n = plan["matmul_n"]
    x = torch.rand(n, n, device="cuda")
    y = torch.rand(n, n, device="cuda")
    tm, mtimes = _median_seconds(timed(lambda: x @ y), plan["repeats"])
    return {"device": "cuda", "gpu": torch.cuda.get_device_name(), "bandwidth": bandwidth,
            "bandwidth_method": "torch.sum", "bandwidth_methods": {"torch.sum": {"bytes_per_s": bandwidth, "seconds": times}},
            "read_bytes": plan["read_bytes"], "matmul_rate": 2 * n ** 3 / tm, "matmul_n": n,
            "matmul_seconds": mtimes, "threads": plan["threads"], "process": process_info()}


# --- one backend --------------------------------------------------------------------------------

def _framework_threads(name: str, threads: int) -> dict[str, Any]:
    """Set the framework's own thread count where it has one; return what is in force."""
    info: dict[str, Any] = {}
    if name == "torch":
        import torch

        torch.set_num_threads(threads)
        info = {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
                "torch_blas": next((part.split("=", 1)[1] for part in torch.__config__.show().replace(",", "\n").split()
                                    if part.startswith("BLAS_INFO=")), "unknown"),
                "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available()}
    elif name == "jax":
        import jax

        info = {"jax_devices": [str(d) for d in jax.devices()],
                "xla_flags": os.environ.get("XLA_FLAGS", "")}
    return info


def time_backend(plan: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from softmax_rosetta.registry import get_backend

    name, device = plan["backend"], plan["device"]
    be = get_backend(name, device=device if name != "numpy" else "cpu", dtype="float32")
    threads = _framework_threads(name, plan["threads"])
    sync = _sync(name, be.device)
    results = []
    for workload in plan["workloads"]:
        data = np.load(workload["data"])
        x, y, w, b = data["x"], data["y"], data["weight"], data["bias"]
        lr, epochs = float(data["lr"]), int(workload["epochs"])
        native = [be._to_native(a) for a in (x, y.astype(np.int64), w, b)]
        variants = [v for v in be.variants if not plan.get("variants") or v in plan["variants"]]
        for variant in variants:
            label = f"{workload['name']} {name} {variant}"
            entry: dict[str, Any] = {"workload": workload["name"], "backend": name, "variant": variant,
                                     "device": be.device, "epochs": epochs, "steps": epochs + 1}
            try:
                entry.update(_time_variant(be, native, lr, epochs, variant, sync, plan, label))
            except Exception as exc:  # one variant failing (a compiler missing) leaves the others
                traceback.print_exc()
                entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            results.append(entry)
        del native, data, x
    return {"backend": name, "device": be.device, "versions": be.versions(), "settings": be.settings(),
            "threads": threads, "blas": blas_info(), "process": process_info(), "runs": results}


def _sync(name: str, device: str):
    if name == "jax":
        import jax
        return jax.block_until_ready
    if name == "torch" and device == "cuda":
        import torch
        return lambda out: torch.cuda.synchronize()
    return lambda out: None


def _time_variant(be, native, lr, epochs, variant, sync, plan, label) -> dict[str, Any]:
    x, y, w, b = native

    def once() -> tuple[float, Any]:
        start = time.perf_counter()
        out = be._train(x, y, w, b, lr, epochs, variant, 0, None, batches=None,
                        momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0)
        sync(out)
        return time.perf_counter() - start, out

    first, out = once()
    progress(f"{label} (warm-up)")
    times: list[float] = []
    while len(times) < plan["max_repeats"] and (len(times) < plan["repeats"] or sum(times) < plan["min_seconds"]):
        t, out = once()
        times.append(t)
        progress(label)
    costs = be._to_numpy(out[0])
    return {"ok": True, "seconds": times, "warmup_seconds": first, "median": statistics.median(times),
            "min": min(times), "max": max(times), "repeats": len(times),
            "first_cost": float(costs[0]), "final_cost": float(costs[-1])}


# --- the process --------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m softmax_rosetta.tools.bench_worker", description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True, help="the JSON plan the parent wrote")
    p.add_argument("--result", required=True, help="where to write the JSON result")
    args = p.parse_args(argv)
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    start = time.perf_counter()
    try:
        data = {"ok": True, **(floor(plan) if plan["kind"] == "floor" else time_backend(plan))}
        code = 0
    except Exception as exc:  # the parent reports it; the traceback goes to stderr
        traceback.print_exc()
        data = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        code = 1
    data["seconds_total"] = time.perf_counter() - start
    from .files import atomic_write

    atomic_write(args.result, json.dumps(data))
    return code


if __name__ == "__main__":
    sys.exit(main())
