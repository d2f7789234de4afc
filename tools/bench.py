"""``softmax-rosetta bench``: every backend's training variants timed against the machine's floor.

    softmax-rosetta bench                 # T, M and L, every backend and variant: a few minutes
    softmax-rosetta bench --quick         # a CI-sized run (fewer epochs, L at 20,000 rows)
    softmax-rosetta bench --json          # the whole result as JSON on stdout
    softmax-rosetta bench --device cuda   # torch and JAX on a GPU, L at 1,000,000 rows there

Workloads (float32, full-batch plain SGD, the lesson's loop; each a fixed number of epochs):
    T  the seed spec, 8 x 4 -> 3, 1000 epochs: per-step overhead, compared to the fastest variant;
    M  the digits, all 1797 x 64 -> 10 (standardised), compared to the floor;
    L  synthetic Gaussian blobs, 100,000 x 784 -> 10 (``--size`` rows), compared to the floor.

The floor, measured in the same run, in a process of its own: the machine's memory read
bandwidth and float32 matmul rate. An epoch must read X (N D 4 bytes) and do two matmuls with
it (4 N D C flops), so no implementation can take less than
    floor = max(N D 4 / bandwidth, 4 N D C / matmul rate)    per epoch.

Each backend runs in its own process (``softmax_rosetta.tools.bench_worker``), with the same thread count
in every thread pool (``--threads``, default: the CPUs this process may use) and its CPU
affinity set to that many CPUs. Data are made here once, written to a temporary .npz and read
by each process, so generating them is never timed and every backend sees the same numbers.
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set to work around old OpenBLAS
bugs and which slow a current one, are unset in the benchmark's own processes (never elsewhere);
each process records the BLAS kernel it then runs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from softmax_rosetta.backend import BackendError
from .files import atomic_write

BACKEND_ORDER = ("numpy", "torch", "jax")
FAST_PATHS = (("numpy", "fast"), ("torch", "fast"), ("torch", "compiled"), ("jax", "fast"))
UNSET_FOR_BENCH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    epochs: int          # full run
    quick_epochs: int    # --quick
    versus: str          # "floor" or "fastest": what the ratio column divides by


WORKLOADS = {
    "T": Workload("T", "the seed spec", 1000, 300, "fastest"),
    "M": Workload("M", "digits", 500, 50, "floor"),
    "L": Workload("L", "synthetic", 10, 2, "floor"),
}
L_ROWS = {"cpu": 100_000, "cuda": 1_000_000}
L_ROWS_QUICK = 20_000
L_FEATURES, L_CLASSES = 784, 10

# targets of issue 6, checked on every run: (workload, backend, variant, kind, bound)
#   "floor": median per epoch <= bound * floor;  "speedup": torch lesson's median / this one's >= bound
TARGETS = (
    *[("L", b, v, "floor", 3.0) for b, v in FAST_PATHS],
    *[("M", b, v, "floor", 5.0) for b, v in FAST_PATHS],
    ("T", "jax", "fast", "speedup", 20.0),
    ("T", "jax", "fused", "speedup", 20.0),
    ("T", "numpy", "fast", "speedup", 5.0),
    ("T", "torch", "fast", "speedup", 3.0),
)


# --- data -----------------------------------------------------------------------------------

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
        raise BackendError(f"--workloads: unknown workload {key!r}; known: {', '.join(WORKLOADS)}")
    return {"x": np.ascontiguousarray(x, dtype=np.float32), "y": np.asarray(y, dtype=np.int64),
            "weight": np.asarray(w, dtype=np.float32), "bias": np.asarray(b, dtype=np.float32),
            "lr": np.float64(lr), "title": title}


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


# --- running the processes --------------------------------------------------------------------------

def child_env(threads: int, device: str) -> tuple[dict[str, str], dict[str, str]]:
    """The environment of the benchmark's processes, and the variables unset from it (to record)."""
    env = dict(os.environ)
    unset = {k: env.pop(k) for k in UNSET_FOR_BENCH if k in env}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    return env, unset


def run_process(plan: dict[str, Any], env: dict[str, str], cpus: list[int] | None, tmp: str,
                on_progress: Callable[[str], None], timeout: float | None = None) -> dict[str, Any]:
    """Run one ``softmax_rosetta.tools.bench_worker`` with ``plan``; return its result (``ok`` False when it failed)."""
    tag = plan.get("backend", plan["kind"])
    plan_path, result_path, log_path = (os.path.join(tmp, f"{tag}.{ext}") for ext in ("plan.json", "json", "log"))
    with open(plan_path, "w", encoding="utf-8") as f:
        json.dump(plan, f)

    # the CPU affinity is set first thing in the child, before NumPy or a framework starts a
    # thread pool, so every thread inherits it (a preexec_fn would fork a parent that may run JAX)
    launch = ("import os, runpy, sys; cpus = {cpus!r}; cpus and os.sched_setaffinity(0, cpus); "
              "sys.argv[1:] = {args!r}; runpy.run_module('softmax_rosetta.tools.bench_worker', run_name='__main__')"
              ).format(cpus=cpus, args=["--plan", plan_path, "--result", result_path])
    start = time.perf_counter()
    with open(log_path, "w+", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-c", launch], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            for line in proc.stdout:
                if line.startswith("progress\t"):
                    on_progress(line.rstrip("\n").split("\t", 1)[1])
                if timeout is not None and time.perf_counter() - start > timeout:
                    proc.kill()
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.seek(0)
        log_text = log.read()
    try:
        with open(result_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        last = [line for line in log_text.strip().splitlines() if line.strip()][-1:] or ["no output"]
        data = {"ok": False, "error": f"its process exited with status {proc.returncode}: {last[0]}"}
    data["wall_seconds"] = time.perf_counter() - start
    if not data.get("ok"):
        data["log"] = log_text[-4000:]
    return data


class Progress:
    """A progress bar on stderr (one line, redrawn) when it is a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, enabled: bool = True):
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled
        self.tty = enabled and stream.isatty()
        self.start = time.perf_counter()
        self.label = ""
        self.drawn = 0.0

    def update(self, label: str, step: bool = False) -> None:
        self.done += 1 if step else 0
        self.label = label
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if self.tty:
            if not step and elapsed - self.drawn < 0.1:   # at most 10 redraws a second
                return
            self.drawn = elapsed
            width = 24
            filled = int(width * min(self.done, self.total) / max(self.total, 1))
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed:5.0f} s  {label}"
            self.stream.write(line[:120].ljust(120))
            self.stream.flush()
        elif step or "warm-up" in label or label.startswith("floor"):
            self.stream.write(f"[{self.done}/{self.total} {elapsed:4.0f} s] {label}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()


# --- the run ----------------------------------------------------------------------------------------

@dataclass
class Options:
    quick: bool = False
    device: str = "cpu"
    size: int | None = None
    workloads: tuple[str, ...] = ("T", "M", "L")
    backends: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    threads: int | None = None
    repeats: int | None = None
    epochs: int | None = None
    min_seconds: float | None = None
    floor_bytes: int | None = None
    matmul_n: int | None = None
    timeout: float | None = None
    progress: bool = True


def run(opts: Options) -> dict[str, Any]:
    """The whole benchmark: the floor, then each backend in its own process. Returns the result dict."""
    from softmax_rosetta.registry import available_backends, backend_class, missing_packages

    if opts.device not in ("cpu", "cuda"):
        raise BackendError(f"--device: unknown device {opts.device!r}; known: cpu, cuda")
    for key in opts.workloads:
        if key not in WORKLOADS:
            raise BackendError(f"--workloads: unknown workload {key!r}; known: {', '.join(WORKLOADS)}")
    names = list(opts.backends) if opts.backends else available_backends()
    if opts.device == "cuda" and not opts.backends:  # NumPy has no GPU: its CPU times beside a GPU floor say nothing
        names = [n for n in names if n != "numpy"]
    for name in names:
        if name not in BACKEND_ORDER:
            raise BackendError(f"--backends: unknown backend {name!r}; known: {', '.join(BACKEND_ORDER)}")
        if missing_packages(name):
            raise BackendError(f"--backends: {name} is not installed (needs {', '.join(missing_packages(name))})")
    if opts.device == "cuda":
        gpu = [n for n in names if n != "numpy" and "cuda" in backend_class(n).available_devices()]
        if not gpu:
            raise BackendError("--device cuda: neither torch nor jax sees a GPU on this machine")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    threads = opts.threads or (len(cpus) if cpus else os.cpu_count() or 1)
    if cpus is not None:
        if threads > len(cpus):
            raise BackendError(f"--threads: {threads} but this process may use {len(cpus)} CPUs")
        cpus = cpus[:threads]
    repeats = opts.repeats or (3 if opts.quick else 5)
    min_seconds = opts.min_seconds if opts.min_seconds is not None else (0.1 if opts.quick else 0.5)
    rows = opts.size or (L_ROWS_QUICK if opts.quick else L_ROWS[opts.device])
    env, unset = child_env(threads, opts.device)

    result: dict[str, Any] = {
        "schema": "softmax-rosetta/bench", "schema_version": 1,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["softmax-rosetta", "bench", *sys.argv[2:]] if Path(sys.argv[0]).name == "softmax-rosetta" else None,
        "quick": opts.quick, "device": opts.device, "dtype": "float32", "threads": threads, "cpus": cpus,
        "unset_for_benchmark": unset, "machine": machine_info(), "load_before": _loadavg(),
        "repeats": repeats, "min_seconds": min_seconds,
    }
    progress = Progress(total=2 + len(names), enabled=opts.progress)
    with tempfile.TemporaryDirectory(prefix="softmax-rosetta-bench-") as tmp:
        progress.update("making the data")
        workloads = []
        for key in opts.workloads:
            wl = WORKLOADS[key]
            data = make_data(key, rows if key == "L" else None)
            path = os.path.join(tmp, f"{key}.npz")
            np.savez(path, **{k: v for k, v in data.items() if k != "title"})
            n, d = data["x"].shape
            c = data["weight"].shape[0]
            epochs = opts.epochs or (wl.quick_epochs if opts.quick else wl.epochs)
            workloads.append({"name": key, "title": data["title"], "n": n, "d": d, "c": c, "epochs": epochs,
                              "steps": epochs + 1, "lr": float(data["lr"]), "versus": wl.versus,
                              "x_bytes": int(data["x"].nbytes), "flops_per_epoch": 4 * n * d * c, "data": path})
            del data
        floor_bytes = opts.floor_bytes or ((256 if opts.quick else 1024) << 20)
        if opts.device == "cuda":
            floor_bytes = opts.floor_bytes or (4096 << 20)
        matmul_n = opts.matmul_n or (1024 if opts.quick else 2048) * (4 if opts.device == "cuda" else 1)
        floor_plan = {"kind": "floor", "threads": threads, "repeats": repeats, "read_bytes": floor_bytes,
                      "matmul_n": matmul_n, "device": "cuda" if opts.device == "cuda" else "cpu"}
        floor = run_process(floor_plan, env, cpus, tmp, progress.update, opts.timeout)
        progress.update("floor measured", step=True)
        if not floor.get("ok"):
            raise BackendError(f"measuring the floor failed: {floor.get('error')}\n{floor.get('log', '')}")
        processes = []
        for name in sorted(names, key=BACKEND_ORDER.index):
            plan = {"kind": "backend", "backend": name, "device": opts.device, "threads": threads,
                    "repeats": repeats, "min_seconds": min_seconds, "max_repeats": max(repeats, 200),
                    "variants": list(opts.variants) if opts.variants else None,
                    "workloads": [{"name": w["name"], "data": w["data"], "epochs": w["epochs"]} for w in workloads]}
            proc = run_process(plan, env, cpus, tmp, lambda label, name=name: progress.update(label), opts.timeout)
            proc.setdefault("backend", name)
            progress.update(f"{name} done", step=True)
            processes.append(proc)
        # the floor again, after: a floor is a bound, so each rate is the better of the two
        # measurements (another process busy during one of them can only lower it)
        again = run_process({**floor_plan, "kind": "floor"}, env, cpus, tmp, progress.update, opts.timeout)
        progress.update("floor measured again", step=True)
    progress.close()
    result["floor"] = floor = _better_floor(floor, again)
    for wl in workloads:
        wl["floor_read_s"] = wl["x_bytes"] / floor["bandwidth"]
        wl["floor_matmul_s"] = wl["flops_per_epoch"] / floor["matmul_rate"]
        wl["floor_s"] = max(wl["floor_read_s"], wl["floor_matmul_s"])
    for wl in workloads:
        del wl["data"]
    result["workloads"] = workloads
    result["processes"] = [{k: v for k, v in p.items() if k != "runs"} for p in processes]
    result["runs"] = _runs(processes, workloads)
    result["targets"] = check_targets(result)
    result["load_after"] = _loadavg()
    return result


def _better_floor(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The floor from two measurements: the higher bandwidth and the higher matmul rate."""
    floor = dict(before)
    floor["measured"] = [{k: m.get(k) for k in ("bandwidth", "bandwidth_method", "matmul_rate")}
                         for m in (before, after) if m.get("ok")]
    if after.get("ok"):
        if after["bandwidth"] > floor["bandwidth"]:
            floor.update(bandwidth=after["bandwidth"], bandwidth_method=after["bandwidth_method"])
        floor["matmul_rate"] = max(floor["matmul_rate"], after["matmul_rate"])
    return floor


def _runs(processes: list[dict[str, Any]], workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every timed run, with per-epoch times and the ratio the table shows."""
    runs = []
    for proc in processes:
        if not proc.get("ok"):
            runs.append({"backend": proc.get("backend", "?"), "ok": False, "error": proc.get("error", "")})
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
    for wl in workloads:
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


def check_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    runs = {(r["workload"], r["backend"], r["variant"]): r for r in result["runs"] if r.get("ok")}
    floors = {w["name"]: w["floor_s"] for w in result["workloads"]}
    out = []
    for wl, backend, variant, kind, bound in TARGETS:
        run = runs.get((wl, backend, variant))
        if wl not in floors or run is None:
            continue
        if kind == "floor":
            value = run["median_per_epoch"] / floors[wl]
            met = value <= bound
            text = f"{wl} {backend} {variant}: {value:.2f}x the floor (target <= {bound:g}x)"
        else:
            base = runs.get((wl, "torch", "lesson"))
            if base is None:
                continue
            value = base["median_per_epoch"] / run["median_per_epoch"]
            met = value >= bound
            text = f"{wl} {backend} {variant}: {value:.1f}x faster per epoch than torch lesson (target >= {bound:g}x)"
        if not met:
            text += f": missed by {bound / value:.2f}x" if kind == "speedup" else f": missed by {value / bound:.2f}x"
        out.append({"workload": wl, "backend": backend, "variant": variant, "kind": kind, "bound": bound,
                    "value": value, "met": met, "text": text})
    return out


# --- facts about the machine ----------------------------------------------------------------------

def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "machine": platform.machine(),
                            "platform": platform.platform(), "python": platform.python_version(),
                            "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
        flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
        info["cpu"] = model
        info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["ram_gib"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


# --- output ---------------------------------------------------------------------------------------

def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _rate(value: float, unit: str) -> str:
    return f"{value / 1e9:.1f} G{unit}/s"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The header: device, threads, floor, load."""
    f = result["floor"]
    lines = [f"softmax-rosetta bench: {result['device']}, float32, {result['threads']} thread(s)"
             + (" (--quick)" if result["quick"] else "")
             + f"; machine: {result['machine'].get('cpu', '?')}, {result['machine'].get('nproc')} CPUs,"
             f" {result['machine'].get('ram_gib', '?')} GiB",
             f"floor: memory read {_rate(f['bandwidth'], 'B')} ({f['bandwidth_method']}), float32 matmul "
             f"{_rate(f['matmul_rate'], 'FLOP')} (sgemm {f['matmul_n']}), the better of "
             + " and ".join(f"{_rate(m['bandwidth'], 'B')}, {_rate(m['matmul_rate'], 'FLOP')}" for m in f.get("measured", []))
             + " measured before and after; load average before / after: "
             f"{result['load_before']} / {result['load_after']}"]
    blas = next((b for b in f.get("blas", []) if b.get("internal_api") == "openblas"), None)
    if blas:
        lines.append(f"numpy BLAS: OpenBLAS {blas.get('architecture', '?')} kernel, {blas.get('num_threads', '?')} threads"
                     + (f"; unset for the benchmark: {', '.join(f'{k}={v}' for k, v in result['unset_for_benchmark'].items())}"
                        if result["unset_for_benchmark"] else ""))
    return lines


def table_rows(result: dict[str, Any], wl: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["backend", "variant", "median / epoch", "min", "max", "runs", "compile", f"x {wl['versus']}"]
    rows = []
    for r in result["runs"]:
        if r.get("workload") != wl["name"]:
            continue
        if not r.get("ok"):
            rows.append([r["backend"], r["variant"], "failed: " + r.get("error", "")[:60], "", "", "", "", ""])
            continue
        compiles = r["backend"] == "jax" or r["variant"] == "compiled"
        rows.append([r["backend"], r["variant"], _time(r["median_per_epoch"]), _time(r["min_per_epoch"]),
                     _time(r["max_per_epoch"]), str(r["repeats"]),
                     f"{r['compile_seconds']:.2f} s" if compiles else "-", f"{r['ratio']:.2f}"])
    for r in result["runs"]:
        if "workload" not in r and not r.get("ok"):
            rows.append([r["backend"], "(all)", "failed: " + r.get("error", "")[:60], "", "", "", "", ""])
    return header, rows


def workload_line(wl: dict[str, Any]) -> str:
    line = (f"{wl['name']}: {wl['title']}, {wl['n']:,} x {wl['d']} -> {wl['c']}, {wl['epochs']} epochs "
            f"({wl['steps']} steps)")
    if wl["versus"] == "floor":
        line += (f"; floor per epoch {_time(wl['floor_s'])} = max(read X {_time(wl['floor_read_s'])}, "
                 f"matmuls {_time(wl['floor_matmul_s'])})")
    else:
        line += "; ratio: to the fastest variant"
    return line


def text_report(result: dict[str, Any]) -> str:
    out = [*summary_lines(result), ""]
    for wl in result["workloads"]:
        out.append(workload_line(wl))
        header, rows = table_rows(result, wl)
        widths = [max(len(x) for x in col) for col in zip(header, *rows)]
        out.append("  " + "  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
        for row in rows:
            out.append("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if "final_cost_spread" in wl:
            out.append(f"  final cost {wl['final_cost']:.6g} in every variant, within {wl['final_cost_spread']:.1e}")
        out.append("")
    if result["targets"]:
        out.append("Targets:")
        for t in result["targets"]:
            out.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['text']}")
    return "\n".join(out)


def markdown_report(result: dict[str, Any]) -> str:
    """The results as Markdown: the tables, the floor, the machine and the command that made them."""
    m = result["machine"]
    out = [f"Run {result['started']}: `{' '.join(result['command'] or ['softmax-rosetta', 'bench'])}`", "",
           f"- machine: {m.get('cpu', '?')} ({', '.join(m.get('simd', []))}), {m.get('nproc')} CPUs, "
           f"{m.get('ram_gib', '?')} GiB RAM; {m.get('platform')}; Python {m.get('python')}",
           f"- threads: {result['threads']} in every pool, CPU affinity {result['cpus']}"]
    versions = {}
    for p in result["processes"]:
        versions.update(p.get("versions", {}))
    out.append("- versions: " + ", ".join(f"{k} {v}" for k, v in {"numpy": m.get("numpy"), **versions}.items()))
    out.extend(f"- {line}" for line in summary_lines(result)[1:])
    for p in result["processes"]:
        if p.get("backend") == "torch" and p.get("threads"):
            t = p["threads"]
            out.append(f"- torch: {t.get('torch_threads')} threads, BLAS {t.get('torch_blas')}, mkldnn {t.get('mkldnn')}")
    out.append("")
    for wl in result["workloads"]:
        out.append(f"**{workload_line(wl)}**")
        out.append("")
        header, rows = table_rows(result, wl)
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in rows)
        if "final_cost_spread" in wl:
            out.append(f"\nFinal cost {wl['final_cost']:.6g} in every variant, within {wl['final_cost_spread']:.1e}.")
        out.append("")
    if result["targets"]:
        out.append("Targets:")
        out.append("")
        out.extend(f"- {'met' if t['met'] else '**missed**'}: {t['text']}" for t in result["targets"])
    return "\n".join(out) + "\n"


def main(opts: Options, *, as_json: bool = False, markdown: str | None = None,
         stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    result = run(opts)
    if markdown:
        atomic_write(markdown, markdown_report(result))
    if as_json:
        json.dump(result, stdout, indent=1)
        stdout.write("\n")
    else:
        stdout.write(text_report(result) + "\n")
    failed = [p for p in result["processes"] if not p.get("ok")] + [r for r in result["runs"] if not r.get("ok")]
    return 1 if failed else 0
