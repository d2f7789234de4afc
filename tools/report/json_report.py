"""report.json: every number of the report, for programs. The schema is in docs/report.md."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softmax_rosetta.compare import accuracy_tolerance
from softmax_rosetta.results import TrainResult

from .model import REFERENCE_BACKEND, REFERENCE_DTYPE, REFERENCE_VARIANT, Report
from .saved_runs.identity import PlacedRun, spec_hash

SCHEMA = "softmax-rosetta/agreement-report"
SCHEMA_VERSION = 2


def to_json(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (NaN and infinities as strings)."""
    worst, ref, spec = report.worst, report.reference, report.spec
    data = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "verdict": "pass" if report.passed else "fail",
        "exit_status": report.exit_status,
        "verdict_line": report.verdict_line(markdown=False),
        "summary": {
            "checks": len(report.checks),
            "passed": len(report.checks) - len(report.failed),
            "failed": len(report.failed),
            "errors": report.errors,
            "suspects": report.suspects,
            "worst": worst.to_dict() if worst else None,
            "backends_ran": report.ran,
            "backends_failed": report.failed_to_run,
            "backends_skipped": [b.name for b in report.skipped],
            "skipped": len(report.skipped_checks),
        },
        "failed_checks": [c.to_dict() for c in report.failed],
        "skipped_checks": [s.to_dict() for s in report.skipped_checks],
        "created": report.started,
        "seconds": report.seconds,
        "command": report.command,
        "spec": {
            "name": spec.name,
            "hash": spec_hash(spec),
            "path": spec.path,
            "description": spec.description,
            "epochs": spec.epochs,
            "lr": spec.lr,
            "samples": spec.num_samples,
            "expected_every": spec.expected_every,
            "expected_costs": list(spec.expected_costs),
        },
        "dtypes": report.dtypes,
        "device": report.device,
        "tolerance_scale": report.tolerance_scale,
        "tolerances": {
            d: {
                "expected_cost": t.expected_cost,
                "cost": t.cost,
                "param": t.param,
                "output": t.output,
                "accuracy": accuracy_tolerance(spec) * report.tolerance_scale,
                "note": t.note,
            }
            for d, t in spec.tolerances.items()
            if d in report.dtypes
        },
        "tolerances_used": {d: report.tolerances[d].to_dict() for d in report.dtypes if d in report.tolerances},
        "environment": {
            "parent": report.environment,
            "backends": {b.name: b.run.settings for b in report.backends if b.run is not None},
        },
        "backends": [b.to_dict() for b in report.backends],
        "checks": [c.to_dict() for c in report.checks],
        "reference": (
            {
                "backend": REFERENCE_BACKEND,
                "variant": REFERENCE_VARIANT,
                "dtype": REFERENCE_DTYPE,
                "costs": ref.costs.tolist(),
            }
            if ref is not None
            else {"error": report.reference_error}
        ),
        "deviations": [d.to_dict() for d, _ in report.deviations],
        "runs": [_run(report, r) for r in report.runs],
        "forward": report.outputs,
        "plots": report.plots,
    }
    if report.hosts:
        data["hosts"] = report.hosts
    if report.drift is not None:
        data["drift"] = report.drift.to_dict()
    return jsonable(data)


def _run(report: Report, r: TrainResult) -> dict[str, Any]:
    """A run with its label; a saved run also with its host and the backend process it came from."""
    where = {"host": r.host, "owner": r.owner} if isinstance(r, PlacedRun) else {}
    return {"label": r.label, **where, **r.to_dict()}


def jsonable(x: Any) -> Any:
    """Plain JSON: NumPy values made Python, NaN and infinities written as the strings "nan", "inf", "-inf"."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    return x
