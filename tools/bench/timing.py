"""One backend's timings, in a process of its own (``softmax_rosetta.tools.worker``).

Threads and CPUs are fixed by the parent before this process starts (environment variables and
CPU affinity, which thread pools created at import inherit); this process sets the framework's
own thread count to the same number (``Backend.set_threads``) and records what is in force.

How a variant is timed: the backend's training loop (``Backend.train_native``, what
``Backend.train`` runs, without its host-side conversions and accuracy) on arrays already on
the device, until the results are ready (``Backend.synchronize``). The first run (the warm-up)
includes compiling where a variant compiles; then at least ``repeats`` timed runs, more while
they add up to less than ``min_seconds``. Each timed run is one ``progress`` line for the
parent's progress bar.
"""

from __future__ import annotations

import statistics
import time
import traceback
from typing import Any

import numpy as np

from softmax_rosetta.backend import Backend
from softmax_rosetta.registry import backend_class

from ..environment import blas_info, process
from ..worker import progress


def devices(names: list[str]) -> dict[str, dict[str, list[str]]]:
    """Each backend's known and available devices (for the parent, which imports no framework)."""
    out = {}
    for name in names:
        cls = backend_class(name)
        out[name] = {"known": list(cls.known_devices()), "available": list(cls.available_devices())}
    return out


def time_backend(
    *,
    backend: str,
    device: str,
    threads: int,
    repeats: int,
    min_seconds: float,
    max_repeats: int,
    variants: list[str] | None,
    workloads: list[dict[str, Any]],
) -> dict[str, Any]:
    """Every variant of ``backend`` (those of ``variants``, if given) on each workload's data."""
    start = time.perf_counter()
    cls = backend_class(backend)
    be = cls(device=device if device in cls.known_devices() else "cpu", dtype="float32")
    thread_settings = be.set_threads(threads)
    results = []
    asked = [v for v in be.variants if not variants or v in variants]
    # a variant whose package isn't installed (numba for NumPy's compiled) is skipped, with why
    reasons = {v: be.unavailable(v) for v in asked}
    skipped = [{"variant": v, "reason": why} for v, why in reasons.items() if why]
    asked = [v for v in asked if not reasons[v]]
    for workload in workloads:
        data = np.load(workload["data"])
        x, y, w, b = data["x"], data["y"], data["weight"], data["bias"]
        lr, epochs = float(data["lr"]), int(workload["epochs"])
        native = [be.to_native(a) for a in (x, y.astype(np.int64), w, b)]
        for variant in asked:
            label = f"{workload['name']} {backend} {variant}"
            entry: dict[str, Any] = {
                "workload": workload["name"],
                "backend": backend,
                "variant": variant,
                "fast": variant in be.fast_variants,
                "compiles": variant in be.compiling_variants,
                "device": be.device,
                "epochs": epochs,
                "steps": epochs + 1,
            }
            try:
                entry.update(
                    _time_variant(
                        be,
                        native,
                        lr,
                        epochs,
                        variant,
                        label,
                        repeats=repeats,
                        min_seconds=min_seconds,
                        max_repeats=max_repeats,
                    )
                )
            except Exception as exc:  # one variant failing (a compiler missing) leaves the others
                traceback.print_exc()
                entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            results.append(entry)
        del native, data, x
    return {
        "backend": backend,
        "device": be.device,
        "versions": be.versions(),
        "settings": be.settings(),
        "threads": thread_settings,
        "blas": blas_info(),
        "process": process(),
        "runs": results,
        "skipped": skipped,
        "seconds_total": time.perf_counter() - start,
    }


def _time_variant(
    be: Backend,
    native: list[Any],
    lr: float,
    epochs: int,
    variant: str,
    label: str,
    *,
    repeats: int,
    min_seconds: float,
    max_repeats: int,
) -> dict[str, Any]:
    x, y, w, b = native

    def once() -> tuple[float, Any]:
        start = time.perf_counter()
        out = be.train_native(x, y, w, b, lr=lr, epochs=epochs, variant=variant)
        be.synchronize(out)
        return time.perf_counter() - start, out

    first, out = once()
    progress(f"{label} (warm-up)")
    times: list[float] = []
    while len(times) < max_repeats and (len(times) < repeats or sum(times) < min_seconds):
        t, out = once()
        times.append(t)
        progress(label)
    costs = be.to_numpy(out[0])
    return {
        "ok": True,
        "seconds": times,
        "warmup_seconds": first,
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "repeats": len(times),
        "first_cost": float(costs[0]),
        "final_cost": float(costs[-1]),
    }
