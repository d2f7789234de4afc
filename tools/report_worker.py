"""One backend, in a process of its own, for the agreement report (``softmax-rosetta compare``).

The frameworks' thread pools fight when torch, JAX and NumPy run in one process, so the
report runs each backend as

    python -m softmax_rosetta.tools.report_worker --backend torch --spec SPEC.toml --dtypes float32,float64 \\
        --device cpu --result RESULT.json

which computes, for each dtype, the backend's forward outputs (``compare.forward_outputs``)
and a training run of every variant (``Backend.train``), and writes them as JSON to
``--result`` (floats written by ``repr``, so they read back exactly). On an error it writes
``{"ok": false, "error": ...}`` instead and exits 1. The parent (``run_worker``) reads the file
and does every comparison itself.

Test hook (for the report's own tests, never for real use): ``SOFTMAX_ROSETTA_PERTURB``
    SOFTMAX_ROSETTA_PERTURB=torch:1e-3        add 1e-3 to every number torch returns
    SOFTMAX_ROSETTA_PERTURB=jax:1e-3,numpy:crash   and make the numpy worker fail
shifts a backend's results after it computed them, or makes its worker fail, so a test can
see the real report code path catch a disagreeing or broken backend. The report says so in
its first lines whenever the variable is set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PERTURB_ENV = "SOFTMAX_ROSETTA_PERTURB"
# Environment variables that change thread counts or precision; the report shows those set.
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS", "XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64",
            "JAX_DEFAULT_MATMUL_PRECISION", "NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
            "CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG")


def parse_perturbation(text: str | None) -> dict[str, float | str]:
    """``"torch:1e-3,numpy:crash"`` -> ``{"torch": 0.001, "numpy": "crash"}``; ValueError if malformed."""
    out: dict[str, float | str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, amount = item.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"{PERTURB_ENV}: expected BACKEND:AMOUNT or BACKEND:crash, got {item!r}")
        amount = amount.strip()
        if amount == "crash":
            out[name.strip()] = "crash"
            continue
        try:
            value = float(amount)
        except ValueError:
            raise ValueError(f"{PERTURB_ENV}: {item!r}: expected a number or 'crash' after the colon") from None
        if not math.isfinite(value):
            raise ValueError(f"{PERTURB_ENV}: {item!r}: the amount must be finite")
        out[name.strip()] = value
    return out


def environment() -> dict[str, Any]:
    """Facts about this process that decide speed and rounding, beyond ``Backend.settings()``."""
    info: dict[str, Any] = {
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "numpy": np.__version__, "pid": os.getpid(),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    jax = sys.modules.get("jax")
    if jax is not None:
        info["jax_default_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
    try:
        from threadpoolctl import threadpool_info  # optional: BLAS thread counts
    except ImportError:
        pass
    else:
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")}
                               for p in threadpool_info()]
    return info


# --- the child ----------------------------------------------------------------------------

def _work(name: str, spec_path: str, dtypes: Sequence[str], device: str) -> dict[str, Any]:
    from softmax_rosetta.backend import TrainingDiverged
    from softmax_rosetta.compare import forward_outputs
    from softmax_rosetta.registry import backend_class
    from softmax_rosetta.spec import load_spec

    perturb = parse_perturbation(os.environ.get(PERTURB_ENV)).get(name)
    if perturb == "crash":
        raise RuntimeError(f"made to fail on purpose by the test hook {PERTURB_ENV}")
    spec = load_spec(spec_path)
    cls = backend_class(name)
    note = ""
    if device not in cls.known_devices():  # NumPy: the CPU is its only device
        note = f"the {name} backend runs on the CPU only; it ran there"
        device = "cpu"
    shift = float(perturb or 0.0)
    out: dict[str, Any] = {"backend": name, "device": device, "note": note, "versions": cls.versions(),
                           "variants": list(cls.variants), "forward": {}, "runs": [], "settings": {}}
    for dtype in dtypes:
        be = cls(device=device, dtype=dtype)
        out["settings"] = be.settings()
        forward = forward_outputs(be, spec)
        out["forward"][dtype] = {k: (np.asarray(v) + np.asarray(shift, dtype=v.dtype)).tolist() if shift
                                 else np.asarray(v).tolist() for k, v in forward.items()}
        for variant in cls.variants:
            try:
                result = be.train(spec, variant=variant)
            except TrainingDiverged as exc:  # the report marks the run as diverged
                result = exc.result
            if shift:
                result.losses = result.losses + result.losses.dtype.type(shift)
                result.weight = result.weight + result.weight.dtype.type(shift)
                result.bias = result.bias + result.bias.dtype.type(shift)
            out["runs"].append(result.to_dict())
    out["environment"] = environment()
    if shift:
        out["perturbed"] = shift
    return out


def _write_json(path: str, data: dict[str, Any]) -> None:
    from .files import atomic_write

    atomic_write(path, json.dumps(data))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m softmax_rosetta.tools.report_worker", description=__doc__.split("\n")[0])
    p.add_argument("--backend", required=True)
    p.add_argument("--spec", required=True, help="path to the spec's TOML file")
    p.add_argument("--dtypes", required=True, help="comma-separated")
    p.add_argument("--device", default="cpu")
    p.add_argument("--result", required=True, help="where to write the JSON result")
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        data = {"ok": True, **_work(args.backend, args.spec, args.dtypes.split(","), args.device)}
        code = 0
    except Exception as exc:  # the parent reports it; the traceback goes to the log
        traceback.print_exc()
        data = {"ok": False, "backend": args.backend, "error": f"{type(exc).__name__}: {exc}",
                "usage": _is_usage_error(exc)}
        code = 1
    data["seconds"] = time.perf_counter() - start
    _write_json(args.result, data)
    return code


def _is_usage_error(exc: Exception) -> bool:
    from softmax_rosetta.backend import BackendError
    from softmax_rosetta.spec import SpecError

    return isinstance(exc, (BackendError, SpecError))


# --- the parent ---------------------------------------------------------------------------

@dataclass
class WorkerResult:
    """What one worker process returned, read back into NumPy arrays and ``TrainResult``s."""

    backend: str
    ok: bool
    seconds: float
    error: str = ""
    device: str = ""
    note: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    forward: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)   # {dtype: {output: array}}
    runs: list[Any] = field(default_factory=list)                             # TrainResult
    perturbed: float | None = None
    log: str = ""                                                             # the worker's stdout + stderr


def run_worker(name: str, spec_path: str, dtypes: Sequence[str], device: str,
               timeout: float | None = None) -> WorkerResult:
    """Run one backend in a fresh Python process and read back its results (never raises for its failures)."""
    from softmax_rosetta.backend import TrainResult

    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="softmax-rosetta-") as tmp:
        result_path = os.path.join(tmp, f"{name}.json")
        cmd = [sys.executable, "-m", "softmax_rosetta.tools.report_worker", "--backend", name, "--spec", spec_path,
               "--dtypes", ",".join(dtypes), "--device", device, "--result", result_path]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
            log, returncode = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            log = out.decode(errors="replace") if isinstance(out, bytes) else out
            return WorkerResult(name, False, time.perf_counter() - start,
                                error=f"did not finish within {timeout:g} s", log=log)
        seconds = time.perf_counter() - start
        try:
            with open(result_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    if data is None or (returncode != 0 and data.get("ok")):
        last = [line for line in log.strip().splitlines() if line.strip()][-1:] or ["no output"]
        return WorkerResult(name, False, seconds, error=f"its process exited with status {returncode}: {last[0]}",
                            log=log)
    if not data["ok"]:
        return WorkerResult(name, False, seconds, error=data["error"], log=log)
    forward = {dtype: {k: np.asarray(v, dtype=dtype) for k, v in outs.items()}
               for dtype, outs in data["forward"].items()}
    runs = []
    for r in data["runs"]:
        dt = r["dtype"]
        runs.append(TrainResult(**{**r, "losses": np.asarray(r["losses"], dtype=dt),
                                   "weight": np.asarray(r["weight"], dtype=dt),
                                   "bias": np.asarray(r["bias"], dtype=dt)}))
    return WorkerResult(name, True, seconds, device=data["device"], note=data.get("note", ""),
                        versions=data["versions"], variants=data["variants"], settings=data["settings"],
                        environment=data.get("environment", {}), forward=forward, runs=runs,
                        perturbed=data.get("perturbed"), log=log)


if __name__ == "__main__":
    sys.exit(main())
