"""One description of where a run happened: the machine, the process, its thread pools, and
the backend's own settings. The agreement report, the benchmark and saved runs all record this.

    environment()            # the machine and this process
    environment(backend)     # and what the backend says of itself (Backend.settings())
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any

import numpy as np

from softmax_rosetta.backend import Backend

# Environment variables that change thread counts or precision; those set are recorded.
ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "JAX_ENABLE_X64",
    "JAX_DEFAULT_MATMUL_PRECISION",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
)
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


def environment(backend: Backend | None = None) -> dict[str, Any]:
    """The machine, this process (pid, CPUs, environment variables, BLAS pools) and, given a
    backend, its settings (versions, device, threads, precision)."""
    info: dict[str, Any] = {"machine": machine(), "process": process(), "blas": blas_info()}
    if backend is not None:
        info["backend"] = {"name": backend.name, **backend.settings()}
    return info


def machine() -> dict[str, Any]:
    """The host: CPU model and SIMD flags, cores, memory, OS, Python, NumPy."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            lines = f.read().splitlines()
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
        flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
        info["simd"] = [f for f in SIMD_FLAGS if f in flags]
    except OSError:
        info["cpu"] = platform.processor()
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["ram_gib"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        info["loadavg"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def process() -> dict[str, Any]:
    """This process: pid, the CPUs it may run on, and the environment variables that matter."""
    info: dict[str, Any] = {"pid": os.getpid(), "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ}}
    if hasattr(os, "sched_getaffinity"):
        info["cpus"] = sorted(os.sched_getaffinity(0))
    return info


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
        keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "filepath")
        return [{k: v for k, v in pool.items() if k in keys} for pool in threadpoolctl.threadpool_info()]
    found: list[dict[str, Any]] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = sorted({line.split()[-1] for line in f if "/" in line and ".so" in line})
    except OSError:
        return found
    for path in paths:
        name = os.path.basename(path).lower()
        if "openblas" in name:
            found.append(_openblas(path))
        elif name.startswith(("libmkl_rt", "libmkl_core")):
            found.append({"internal_api": "mkl", "filepath": path})
    return found


def _openblas(path: str) -> dict[str, Any]:
    lib = ctypes.CDLL(path)
    info: dict[str, Any] = {"internal_api": "openblas", "filepath": path}
    for key, fn, restype in (
        ("architecture", "get_corename", ctypes.c_char_p),
        ("num_threads", "get_num_threads", ctypes.c_int),
        ("config", "get_config", ctypes.c_char_p),
    ):
        for symbol in (f"scipy_openblas_{fn}64_", f"openblas_{fn}64_", f"openblas_{fn}"):
            f = getattr(lib, symbol, None)
            if f is not None:
                f.restype = restype
                value = f()
                info[key] = value.decode() if isinstance(value, bytes) else value
                break
    return info
