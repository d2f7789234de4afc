"""``softmax-rosetta bench --workers 1,2``: data-parallel training timed at each worker count K.

For every backend with ``Backend.data_parallel`` (the others are listed, not timed), each
workload's lesson loop runs at each K in a process of its own (``softmax_rosetta.tools.worker``),
pinned to K x T CPUs with K x T threads in its pools (``Backend.set_threads``), which a
data-parallel run shares among its K workers: T threads per worker at every K (``--threads``;
default: the CPUs this process may use, over the largest K). The environment a backend asks for
(``Backend.process_env(K)``: JAX's K CPU devices) is added to that process's.

What is timed, after one untimed warm-up call:

- K = 1: ``Backend.train_native(..., workers=1)``, the backend's own single-process lesson loop
  (what ``train --workers 1`` runs), timed whole until its result is ready, over its steps: as
  the rest of the bench times a variant.
- K > 1: the data-parallel loop (``train_native(..., workers=K)``), timed inside the loop. Its
  ``batches`` is an ``EpochClock``: every epoch it hands out all the rows (one full batch, the
  rows the loop takes without it) and notes the time in the worker's process. Per epoch is the
  time from epoch 1's start to the last epoch's start, over those epochs, in the slowest
  process: the steady loop, without the process launch, the data's hand-off, the rendezvous
  and the first step (compiling, DDP's first buckets). The rest of each call is shown apart
  ("launch + setup").

Medians, min and max are over the timed calls; speedup = t(k0) / t(K) and efficiency =
k0 t(k0) / (K t(K)) per backend and workload, k0 the smallest K timed (1: t(1) / (K t(K))).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from softmax_rosetta.backend import Backend, BackendError
from softmax_rosetta.registry import backend_class

from .. import worker
from ..environment import machine, process
from ..options import UsageError
from . import workloads
from .progress import Progress
from .runner import SIZES, Options, _backends, _loadavg, child_env

SCHEMA = "softmax-rosetta/bench-workers"
VARIANT = "lesson"  # the loop every data-parallel run trains (checks.workers)


class EpochClock:
    """A ``batches`` for timing inside a training loop: every epoch, all ``n`` rows as one batch,
    and the epoch's start time (``time.perf_counter``, one clock for every process of the machine)
    noted in ``folder/clock-<pid>``. Picklable: launched processes call it in their loop."""

    def __init__(self, n: int, folder: str):
        self.rows = np.arange(n, dtype=np.int64)
        self.folder = folder

    def __call__(self, epoch: int) -> list[np.ndarray]:
        with open(os.path.join(self.folder, f"clock-{os.getpid()}"), "a", encoding="utf-8") as f:
            f.write(f"{epoch} {time.perf_counter()!r}\n")
        return [self.rows]

    @staticmethod
    def read(folder: str, epochs: int) -> tuple[float, int]:
        """The seconds per epoch of the slowest process (epoch 1's start to the last epoch's start),
        and how many processes ran the loop."""
        spans = []
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                stamps = dict(line.split() for line in f if line.strip())
            if {str(e) for e in range(epochs + 1)} - set(stamps):
                raise RuntimeError(f"the loop didn't ask for every epoch's rows ({len(stamps)} of {epochs + 1})")
            spans.append((float(stamps[str(epochs)]) - float(stamps["1"])) / (epochs - 1))
        if not spans:
            raise RuntimeError("the loop never asked for its rows: it can't be timed inside")
        return max(spans), len(spans)


def run(opts: Options) -> dict[str, Any]:
    """Time each data-parallel backend at each of ``opts.workers``; the result dict (``text_report``)."""
    counts = sorted(opts.workers or ())
    if not counts:
        raise UsageError("--workers: empty list")
    if opts.device != "cpu":
        raise UsageError(f"--workers: data-parallel timing runs on the CPU only, not --device {opts.device}")
    if opts.variants:
        raise UsageError("--variants: not with --workers: data-parallel runs train the lesson variant")
    workloads.check_keys(opts.workloads)
    names = _backends(opts)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    per_worker = opts.threads or max(1, len(cpus) // counts[-1])
    need = counts[-1] * per_worker
    if need > len(cpus):
        raise UsageError(
            f"--workers: {counts[-1]} workers x {per_worker} thread(s) need {need} CPUs; "
            f"this process may use {len(cpus)}"
        )
    sizes = SIZES["cpu", opts.quick]
    repeats = opts.repeats or sizes.repeats
    rows = opts.size or (workloads.L_ROWS_QUICK if opts.quick else workloads.L_ROWS["cpu"])
    workloads.check_memory(opts.workloads, rows, copies=workloads.COPIES + counts[-1] - 1)
    epochs = {}
    for key in opts.workloads:
        kind = workloads.WORKLOADS[key]
        epochs[key] = opts.epochs if opts.epochs is not None else (kind.quick_epochs if opts.quick else kind.epochs)
        if counts[-1] > 1 and epochs[key] < 2:
            raise UsageError(
                f"--epochs: timing inside a data-parallel loop needs at least 2 epochs (epoch 1 to the last), "
                f"got {epochs[key]}"
            )

    asked = worker.run(f"{__name__}:data_parallel_of", {"names": names, "counts": counts}, env=child_env(1, "cpu")[0])
    if not asked.ok:
        raise BackendError(f"--workers: asking the backends failed: {asked.error}")
    timed = [n for n in names if asked.result[n]["data_parallel"]]
    if not timed:
        raise BackendError(f"--workers: none of {', '.join(names)} trains data parallel (Backend.data_parallel)")

    result: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": 1,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": ["softmax-rosetta", "bench", *sys.argv[2:]] if Path(sys.argv[0]).name == "softmax-rosetta" else None,
        "quick": opts.quick,
        "device": "cpu",
        "dtype": "float32",
        "variant": VARIANT,
        "workers": counts,
        "threads_per_worker": per_worker,
        "threads": need,  # the most threads of the benchmark's own at once (the busy check's)
        "cpus": cpus[:need],
        "machine": machine(),
        "load_before": _loadavg(),
        "repeats": repeats,
        "min_seconds": sizes.min_seconds,
        "not_data_parallel": [n for n in names if n not in timed],
    }
    progress = Progress(total=1 + len(timed) * len(counts), enabled=opts.progress)
    processes = []
    with tempfile.TemporaryDirectory(prefix="softmax-rosetta-bench-") as tmp:
        progress.update("making the data")
        described = [
            workloads.save(key, os.path.join(tmp, f"{key}.npz"), rows=rows, epochs=epochs[key])
            for key in opts.workloads
        ]
        progress.update("data made", step=True)
        for name in timed:
            for k in counts:
                env, _ = child_env(k * per_worker, "cpu")
                plan = {
                    "backend": name,
                    "workers": k,
                    "threads": per_worker,
                    "repeats": repeats,
                    "min_seconds": sizes.min_seconds,
                    "max_repeats": max(repeats, 200),
                    "workloads": [{"name": w["name"], "data": w["data"], "epochs": w["epochs"]} for w in described],
                }
                out = worker.run(
                    f"{__name__}:time_workers",
                    plan,
                    env={**env, **asked.result[name]["env"][str(k)]},
                    cpus=cpus[: k * per_worker],
                    timeout=opts.timeout,
                    on_progress=progress.update,
                )
                entry = {"backend": name, "workers": k, "ok": out.ok, "wall_seconds": out.seconds}
                entry.update(out.result if out.ok else {"error": out.error, "log": out.log[-4000:]})
                processes.append(entry)
                progress.update(f"{name} x{k} done", step=True)
    progress.close()
    for wl in described:
        del wl["data"]
    result["workloads"] = described
    result["processes"] = [{k: v for k, v in p.items() if k != "runs"} for p in processes]
    result["runs"] = scaled(processes, described)
    result["load_after"] = _loadavg()
    return result


def scaled(processes: list[dict[str, Any]], described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (workload, backend, K) run, with its speedup and efficiency over the smallest K's
    median per epoch (a failed process: one failed run per workload)."""
    runs: list[dict[str, Any]] = []
    for proc in processes:
        if proc.get("ok"):
            runs.extend(dict(r) for r in proc["runs"])
        else:
            fail = {"backend": proc["backend"], "workers": proc["workers"], "ok": False, "error": proc.get("error", "")}
            runs.extend({"workload": wl["name"], **fail} for wl in described)
    for wl in described:
        for backend in dict.fromkeys(r["backend"] for r in runs):
            mine = [r for r in runs if r["workload"] == wl["name"] and r["backend"] == backend]
            base = min(mine, key=lambda r: r["workers"])
            if not base.get("ok"):
                continue
            for r in mine:
                if r.get("ok"):
                    r["speedup"] = base["median_per_epoch"] / r["median_per_epoch"]
                    r["efficiency"] = r["speedup"] * base["workers"] / r["workers"]
                    r["versus_workers"] = base["workers"]
        finals = [r["final_cost"] for r in runs if r["workload"] == wl["name"] and r.get("ok")]
        if finals:
            wl["final_cost"] = statistics.median(finals)
            wl["final_cost_spread"] = max(finals) - min(finals)
    return runs


# --- in the children --------------------------------------------------------------------------


def data_parallel_of(names: list[str], counts: list[int]) -> dict[str, dict[str, Any]]:
    """Each backend: whether it trains data parallel, and the environment a process needs for K workers."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        cls = backend_class(name)
        envs = {}
        if cls.data_parallel:
            be = cls(device="cpu", dtype="float32")
            envs = {str(k): be.process_env(k) for k in counts}
        out[name] = {"data_parallel": bool(cls.data_parallel), "env": envs}
    return out


def time_workers(
    *,
    backend: str,
    workers: int,
    threads: int,
    repeats: int,
    min_seconds: float,
    max_repeats: int,
    workloads: list[dict[str, Any]],
) -> dict[str, Any]:
    """In a process of its own: ``backend``'s lesson loop on ``workers`` workers, each workload."""
    start = time.perf_counter()
    be = backend_class(backend)(device="cpu", dtype="float32")
    thread_settings = be.set_threads(workers * threads)  # a data-parallel run shares them among its workers
    results = []
    for workload in workloads:
        data = np.load(workload["data"])
        native = [be.to_native(a) for a in (data["x"], data["y"].astype(np.int64), data["weight"], data["bias"])]
        epochs = int(workload["epochs"])
        entry: dict[str, Any] = {
            "workload": workload["name"],
            "backend": backend,
            "variant": VARIANT,
            "workers": workers,
            "threads_per_worker": threads,
            "epochs": epochs,
            "steps": epochs + 1,
            "timed": "whole call / steps" if workers == 1 else "inside the loop, epoch 1 to the last",
        }
        label = f"{workload['name']} {backend} x{workers}"
        try:
            entry.update(
                _time(be, native, float(data["lr"]), epochs, workers, label, repeats, min_seconds, max_repeats)
            )
        except Exception as exc:  # one workload failing leaves the others
            traceback.print_exc()
            entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        results.append(entry)
        del native, data
    return {
        "backend": backend,
        "workers": workers,
        "versions": be.versions(),
        "threads": thread_settings,
        "process": process(),
        "runs": results,
        "seconds_total": time.perf_counter() - start,
    }


def _time(
    be: Backend,
    native: list[Any],
    lr: float,
    epochs: int,
    workers: int,
    label: str,
    repeats: int,
    min_seconds: float,
    max_repeats: int,
) -> dict[str, Any]:
    x, y, w, b = native
    steps = epochs + 1

    def once() -> tuple[float, float, int, Any]:
        """One call: its seconds, the seconds per epoch, the processes the loop ran in, the result."""
        with tempfile.TemporaryDirectory(prefix="softmax-rosetta-clock-") as folder:
            clock = EpochClock(x.shape[0], folder) if workers > 1 else None  # K = 1: the loop's own full batch
            start = time.perf_counter()
            out = be.train_native(x, y, w, b, lr=lr, epochs=epochs, variant=VARIANT, workers=workers, batches=clock)
            be.synchronize(out)
            seconds = time.perf_counter() - start
            if workers == 1:
                return seconds, seconds / steps, 1, out
            return seconds, *EpochClock.read(folder, epochs), out

    warmup, _, _, out = once()
    worker.progress(f"{label} (warm-up)")
    calls: list[float] = []
    per_epoch: list[float] = []
    while len(calls) < max_repeats and (len(calls) < repeats or sum(calls) < min_seconds):
        seconds, epoch, loop_processes, out = once()
        calls.append(seconds)
        per_epoch.append(epoch)
        worker.progress(label)
    costs = be.to_numpy(out[0])
    outside = [c - steps * e for c, e in zip(calls, per_epoch, strict=True)]
    return {
        "ok": True,
        "seconds_per_epoch": per_epoch,
        "call_seconds": calls,
        "warmup_seconds": warmup,
        "median_per_epoch": statistics.median(per_epoch),
        "min_per_epoch": min(per_epoch),
        "max_per_epoch": max(per_epoch),
        "repeats": len(per_epoch),
        # the call's time besides its steps at the loop's pace: the launch, hand-off and setup (0 at K = 1)
        "outside_loop_seconds": statistics.median(outside),
        "loop_processes": loop_processes,
        "final_cost": float(costs[-1]),
    }
