"""The benchmark's run: the data, the floor and each backend, each in a process of its own.

Each process runs through ``softmax_rosetta.tools.worker``, with the same thread count in every
thread pool (``--threads``, default: the CPUs this process may use) and its CPU affinity set to
that many CPUs. Data are made here once, written to a temporary .npz and read by each process,
so generating them is never timed and every backend sees the same numbers. OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE, which some machines set to work around old OpenBLAS bugs and which slow a
current one, are unset in the benchmark's own processes (never elsewhere); each process
records the BLAS kernel it then runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from softmax_rosetta.backend import BackendError
from softmax_rosetta.registry import BACKENDS, available_backends, missing_packages

from .. import worker
from ..environment import machine
from ..options import UsageError
from . import floor, workloads
from .progress import Progress
from .targets import check_targets

DEVICES = ("cpu", "cuda")
UNSET_FOR_BENCH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# runs ``softmax_rosetta.tools.bench.<module:function>`` in a process: its result, or ok False
Launch = Callable[[str, dict[str, Any], Callable[[str], None] | None], dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    """How much a run measures, on a device, full or ``--quick``."""

    repeats: int  # timed runs per variant, at least (--repeats)
    min_seconds: float  # more timed runs while they add up to less than this
    floor_bytes: int  # the array the floor reads once: far larger than the caches
    matmul_n: int  # the floor's n x n float32 matmul


SIZES = {
    ("cpu", False): Sizes(5, 0.5, 1024 << 20, 2048),
    ("cpu", True): Sizes(3, 0.1, 256 << 20, 1024),
    ("cuda", False): Sizes(5, 0.5, 4096 << 20, 8192),
    ("cuda", True): Sizes(3, 0.1, 4096 << 20, 4096),
}


@dataclass
class Options:
    quick: bool = False
    device: str = "cpu"
    size: int | None = None  # rows of L
    workloads: tuple[str, ...] = ("T", "M", "L")
    backends: tuple[str, ...] | None = None  # None: every installed one
    variants: tuple[str, ...] | None = None  # None: every one
    threads: int | None = None  # None: the CPUs this process may use
    repeats: int | None = None
    epochs: int | None = None  # None: each workload's
    timeout: float | None = None  # seconds, for each process
    progress: bool = True
    workers: tuple[int, ...] | None = None  # data-parallel timing at each K instead (scaling.py)


def child_env(threads: int, device: str) -> tuple[dict[str, str], dict[str, str]]:
    """The environment of the benchmark's processes, and the variables unset from it (to record)."""
    env = dict(os.environ)
    unset = {k: env.pop(k) for k in UNSET_FOR_BENCH if k in env}
    for var in THREAD_VARS:
        env[var] = str(threads)
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"  # a CPU run leaves any GPU alone
    return env, unset


def run(opts: Options) -> dict[str, Any]:
    """The whole benchmark: the floor, then each backend in its own process. Returns the result dict.
    With ``opts.workers``: data-parallel training timed at each worker count instead (``scaling.run``)."""
    if opts.workers is not None:
        from . import scaling

        return scaling.run(opts)
    if opts.device not in DEVICES:
        raise UsageError(f"--device: unknown device {opts.device!r}; known: {', '.join(DEVICES)}")
    workloads.check_keys(opts.workloads)
    names = _backends(opts)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    threads = opts.threads or (len(cpus) if cpus else os.cpu_count() or 1)
    if cpus is not None:
        if threads > len(cpus):
            raise UsageError(f"--threads: {threads} but this process may use {len(cpus)} CPUs")
        cpus = cpus[:threads]
    sizes = SIZES[opts.device, opts.quick]
    repeats = opts.repeats or sizes.repeats
    rows = opts.size or (workloads.L_ROWS_QUICK if opts.quick else workloads.L_ROWS[opts.device])
    workloads.check_memory(opts.workloads, rows, copies=workloads.COPIES)
    env, unset = child_env(threads, opts.device)

    def launch(function: str, kwargs: dict[str, Any], on_progress: Callable[[str], None] | None) -> dict[str, Any]:
        """One process: its result, or ``ok`` False with the error and the end of its log."""
        out = worker.run(
            f"softmax_rosetta.tools.bench.{function}",
            kwargs,
            env=env,
            cpus=cpus,
            timeout=opts.timeout,
            on_progress=on_progress,
        )
        if out.ok:
            return {"ok": True, **out.result, "wall_seconds": out.seconds}
        return {"ok": False, "error": out.error, "wall_seconds": out.seconds, "log": out.log[-4000:]}

    floor_backend = None
    if opts.device != "cpu":
        names, floor_backend = _on_device(opts, names, launch)

    result: dict[str, Any] = {
        "schema": "softmax-rosetta/bench",
        "schema_version": 1,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": ["softmax-rosetta", "bench", *sys.argv[2:]] if Path(sys.argv[0]).name == "softmax-rosetta" else None,
        "quick": opts.quick,
        "device": opts.device,
        "dtype": "float32",
        "threads": threads,
        "cpus": cpus,
        "unset_for_benchmark": unset,
        "machine": machine(),
        "load_before": _loadavg(),
        "repeats": repeats,
        "min_seconds": sizes.min_seconds,
    }
    progress = Progress(total=2 + len(names), enabled=opts.progress)
    with tempfile.TemporaryDirectory(prefix="softmax-rosetta-bench-") as tmp:
        progress.update("making the data")
        described = []
        for key in opts.workloads:
            kind = workloads.WORKLOADS[key]
            epochs = opts.epochs if opts.epochs is not None else (kind.quick_epochs if opts.quick else kind.epochs)
            described.append(workloads.save(key, os.path.join(tmp, f"{key}.npz"), rows=rows, epochs=epochs))
        floor_args = {
            "device": opts.device,
            "backend": floor_backend,
            "threads": threads,
            "repeats": repeats,
            "read_bytes": sizes.floor_bytes,
            "matmul_n": sizes.matmul_n,
        }
        before = launch("floor:measure", floor_args, progress.update)
        progress.update("floor measured", step=True)
        if not before["ok"]:
            raise BackendError(f"measuring the floor failed: {before['error']}\n{before['log']}")
        processes = []
        for name in names:
            plan = {
                "backend": name,
                "device": opts.device,
                "threads": threads,
                "repeats": repeats,
                "min_seconds": sizes.min_seconds,
                "max_repeats": max(repeats, 200),
                "variants": list(opts.variants) if opts.variants else None,
                "workloads": [{"name": w["name"], "data": w["data"], "epochs": w["epochs"]} for w in described],
            }
            processes.append({"backend": name, **launch("timing:time_backend", plan, progress.update)})
            progress.update(f"{name} done", step=True)
        after = launch("floor:measure", floor_args, progress.update)
        progress.update("floor measured again", step=True)
    progress.close()
    result["floor"] = best = floor.better(before, after)
    floor.per_epoch(described, best)
    for wl in described:
        del wl["data"]
    result["workloads"] = described
    result["processes"] = [{k: v for k, v in p.items() if k != "runs"} for p in processes]
    result["runs"] = _runs(processes, described)
    floor.fractions(result["runs"], described, best)
    result["targets"] = check_targets(result)
    result["load_after"] = _loadavg()
    return result


def _on_device(opts: Options, names: list[str], launch: Launch) -> tuple[list[str], str]:
    """For a run on a GPU: the backends to time, and the first that sees the device, which the
    floor is measured through. Asked in a process of its own: a framework started here would hold
    GPU memory while the backends run."""
    known = launch("timing:devices", {"names": names}, None)
    if not known["ok"]:
        raise BackendError(f"--device {opts.device}: asking the backends failed: {known['error']}\n{known['log']}")
    if not opts.backends:  # a backend without the device: its CPU times beside a GPU floor say nothing
        names = [n for n in names if opts.device in known[n]["known"]]
    offering = [n for n in names if opts.device in known[n]["available"]]
    if not offering:
        asked = ", ".join(names) or "none"
        raise BackendError(f"--device {opts.device}: no backend of {asked} sees one on this machine")
    return names, offering[0]


def _backends(opts: Options) -> list[str]:
    """The backends to time, in the registry's order; a usage error for one unknown or not installed."""
    names = list(dict.fromkeys(opts.backends)) if opts.backends else available_backends()
    for name in names:
        if name not in BACKENDS:
            raise UsageError(f"--backends: unknown backend {name!r}; known: {', '.join(BACKENDS)}")
        if missing_packages(name):
            raise BackendError(f"--backends: {name} is not installed (needs {', '.join(missing_packages(name))})")
    return sorted(names, key=list(BACKENDS).index)


def _loadavg() -> list[float] | None:
    return machine().get("loadavg")


def _runs(processes: list[dict[str, Any]], described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every timed run, with per-epoch times and the ratio the table shows."""
    runs = []
    for proc in processes:
        if not proc.get("ok"):
            runs.append({"backend": proc["backend"], "ok": False, "error": proc.get("error", "")})
            continue
        for r in proc["runs"]:
            r = dict(r)
            if r.get("ok"):
                steps = r["steps"]
                for k in ("median", "min", "max"):
                    r[f"{k}_per_epoch"] = r[k] / steps
                # the warm-up's extra time over a steady run: the compile, for variants that compile
                r["compile_seconds"] = max(0.0, r["warmup_seconds"] - r["median"])
            runs.append(r)
    for wl in described:
        mine = [r for r in runs if r.get("workload") == wl["name"] and r.get("ok")]
        if not mine:
            continue
        fastest = min(r["median_per_epoch"] for r in mine)
        for r in mine:
            base = wl["floor_s"] if wl["versus"] == "floor" else fastest
            r["ratio"] = r["median_per_epoch"] / base
            r["ratio_to"] = wl["versus"]
        finals = [r["final_cost"] for r in mine]
        wl["final_cost_spread"] = max(finals) - min(finals)
        wl["final_cost"] = statistics.median(finals)
    return runs
