"""One backend's part of the agreement report, computed in a process of its own.

The frameworks' thread pools fight when torch, JAX and NumPy run in one process, so the
report runs each backend through ``worker.run``: the child calls ``backend_outputs``, which
computes, for each dtype, the backend's forward outputs (``compare.forward_outputs``) and a
training run of every general variant (and, with ``workers`` > 1, the lesson's loop on that many
data-parallel workers, where the backend has it), and returns them as JSON (floats written by ``repr``,
so they read back exactly). The parent's ``run_backend`` reads them back into NumPy arrays
and ``TrainResult``s and does every comparison itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_rosetta.compare import forward_outputs
from softmax_rosetta.registry import backend_class
from softmax_rosetta.results import TrainingDiverged, TrainResult
from softmax_rosetta.spec import load_spec

from .. import worker
from ..environment import environment
from ..train import train_elsewhere

# What the child process calls: module:function, with backend_outputs' keyword arguments.
FUNCTION = f"{__name__}:backend_outputs"


def backend_outputs(
    backend: str, spec_path: str, dtypes: Sequence[str], device: str, workers: int = 1
) -> dict[str, Any]:
    """In the child: one backend's forward outputs and training runs, for each dtype, as plain JSON values."""
    spec = load_spec(spec_path)
    cls = backend_class(backend)
    forward: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    be = None
    for dtype in dtypes:
        be = cls(device=device, dtype=dtype)
        forward[dtype] = {k: np.asarray(v).tolist() for k, v in forward_outputs(be, spec).items()}
        parallel = [("lesson", workers)] if workers > 1 and cls.data_parallel else []
        for variant, k in [(v, 1) for v in cls.general_variants()] + parallel:
            env = be.process_env(k)
            if env:  # a device count this process can't have (JAX on a CPU): a fresh process with it
                runs.append(train_elsewhere(be, spec_path, env, {"variant": variant}, k).to_dict())
                continue
            try:
                result = be.train(spec, variant=variant, workers=k)
            except TrainingDiverged as exc:  # the report marks the run as diverged
                result = exc.result
            runs.append(result.to_dict())
    return {
        "backend": backend,
        "device": device,
        "versions": cls.versions(),
        "variants": list(cls.general_variants()),
        "settings": be.settings() if be is not None else {},
        "environment": environment(),
        "forward": forward,
        "runs": runs,
    }


@dataclass
class BackendRun:
    """What one backend's process returned, read back into NumPy arrays and ``TrainResult``s."""

    backend: str
    ok: bool
    seconds: float
    error: str = ""
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # Backend.settings()
    environment: dict[str, Any] = field(default_factory=dict)  # environment.environment(), in the child
    forward: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # {dtype: {output: array}}
    runs: list[TrainResult] = field(default_factory=list)
    log: str = ""  # what the process printed


def run_backend(
    backend: str,
    spec_path: str,
    dtypes: Sequence[str],
    device: str,
    timeout: float | None = None,
    workers: int = 1,
) -> BackendRun:
    """Run ``backend_outputs`` in a fresh Python process; never raises for the child's failures."""
    outcome = worker.run(
        FUNCTION,
        {"backend": backend, "spec_path": spec_path, "dtypes": list(dtypes), "device": device, "workers": workers},
        timeout=timeout,
    )
    if not outcome.ok:
        return BackendRun(backend, False, outcome.seconds, error=outcome.error, log=outcome.log)
    data = outcome.result
    forward = {
        dtype: {k: np.asarray(v, dtype=dtype) for k, v in outputs.items()} for dtype, outputs in data["forward"].items()
    }
    return BackendRun(
        backend,
        True,
        outcome.seconds,
        device=data["device"],
        versions=data["versions"],
        variants=data["variants"],
        settings=data["settings"],
        environment=data["environment"],
        forward=forward,
        runs=[TrainResult.from_dict(r) for r in data["runs"]],
        log=outcome.log,
    )
