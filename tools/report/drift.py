"""Drift since last time: each run against the same run in a baseline (an older report or saved runs).

    baseline = load_baseline("old/report.json", spec_hash(spec))    # or a folder of saved runs
    drift = measure(report_runs, baseline, spec, host_of)

A run matches a baseline run of the same backend, variant, dtype, device, number of data-parallel
workers and host label; a baseline report made by a plain ``compare`` names no host, and its runs
match that run on any host. A run with no match is "not in the baseline" (``Drift.new``), a baseline
run with none "in the baseline, not made now" (``Drift.gone``): both are listed, neither is compared.
For each match: the largest change of any cost and of any final parameter, against the spec's cost
and param tolerances for the dtype, and what changed in the versions and settings the two runs
recorded. A change beyond tolerance fails, and the verdict names the versions that changed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_rosetta.compare import differences
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec

from .text import three_digits, two_digits

#: what the drift table and junit.xml say of a run with no counterpart
NOT_IN_BASELINE = "not in the baseline"
NOT_MADE_NOW = "in the baseline, not made now"
REPORT_SCHEMA = "softmax-rosetta/agreement-report"  # json_report.SCHEMA (imported there from here would loop)


@dataclass
class BaselineRun:
    backend: str
    variant: str
    dtype: str
    device: str
    host: str | None  # None: a report that names no host; it matches any
    costs: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    versions: dict[str, Any]  # the versions and settings the run recorded
    workers: int = 1  # data-parallel workers: "torch:x2" is not the same run as "torch"


@dataclass
class Baseline:
    source: str
    runs: list[BaselineRun]


@dataclass
class DriftEntry:
    run: str  # the current run's label
    dtype: str
    cost_abs: float
    param_abs: float
    cost_tolerance: float
    param_tolerance: float
    changed: dict[str, tuple[Any, Any]]  # what changed: {name: (baseline value, current value)}

    @property
    def passed(self) -> bool:
        return bool(
            math.isfinite(self.cost_abs)
            and math.isfinite(self.param_abs)
            and self.cost_abs <= self.cost_tolerance
            and self.param_abs <= self.param_tolerance
        )

    @property
    def headroom(self) -> float:
        return max(self.cost_abs / self.cost_tolerance, self.param_abs / self.param_tolerance)

    def changes(self) -> str:
        return ", ".join(f"{k} {old} -> {new}" for k, (old, new) in self.changed.items()) or "nothing recorded changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "dtype": self.dtype,
            "cost_max_abs": self.cost_abs,
            "param_max_abs": self.param_abs,
            "cost_tolerance": self.cost_tolerance,
            "param_tolerance": self.param_tolerance,
            "headroom": self.headroom,
            "passed": self.passed,
            "changed": {k: {"baseline": old, "now": new} for k, (old, new) in self.changed.items()},
        }


@dataclass
class Drift:
    source: str
    entries: list[DriftEntry]
    new: list[str] = field(default_factory=list)  # runs the baseline does not have ("label dtype")
    gone: list[str] = field(default_factory=list)  # baseline runs not made now

    @property
    def failed(self) -> list[DriftEntry]:
        return [e for e in self.entries if not e.passed]

    @property
    def passed(self) -> bool:
        return bool(self.entries) and not self.failed

    def changed_versions(self, entries: Sequence[DriftEntry] | None = None) -> list[str]:
        """Every version or setting that changed, once: "torch 2.12.0 -> 2.13.0"."""
        seen = {
            f"{k} {old} -> {new}": None
            for e in (self.entries if entries is None else entries)
            for k, (old, new) in e.changed.items()
        }
        return list(seen)

    def verdict_part(self) -> str:
        """The drift's clause of the verdict line."""
        if not self.entries:
            return f"drift: no run matches a run of the baseline {self.source}"
        n, bad = len(self.entries), self.failed
        if not bad:
            return f"drift since {self.source}: all {n} runs within tolerance"
        worst = max(bad, key=lambda e: e.headroom if math.isfinite(e.headroom) else math.inf)
        changed = self.changed_versions(bad)
        pointing = f"; changed since: {', '.join(changed)}" if changed else "; no recorded version or setting changed"
        return (
            f"drift since {self.source}: {len(bad)} of {n} runs moved beyond tolerance (worst: {worst.run} "
            f"{worst.dtype}, costs by {three_digits(worst.cost_abs)}, params by {three_digits(worst.param_abs)}, "
            f"{two_digits(worst.headroom)} times its tolerance){pointing}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.source,
            "passed": self.passed,
            "compared": len(self.entries),
            "failed": len(self.failed),
            "changed_versions": self.changed_versions(self.failed or self.entries),
            "entries": [e.to_dict() for e in self.entries],
            "new": self.new,
            "gone": self.gone,
        }


def versions_of(settings: dict[str, Any], versions: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a run records about the software and settings it ran with (``Backend.settings()`` and versions)."""
    return {**settings, **(versions or {})}


def measure(
    runs: Sequence[TrainResult],
    baseline: Baseline,
    spec: Spec,
    host_of: Callable[[TrainResult], str],
    versions: Callable[[TrainResult], dict[str, Any]],
) -> Drift:
    """Each run (not diverged) against its baseline run; ``spec`` has the tolerances in force."""
    entries, new, matched = [], [], set()
    for r in runs:
        host = host_of(r)
        i, b = next(
            (
                (i, b)
                for i, b in enumerate(baseline.runs)
                if (b.backend, b.variant, b.dtype, b.device, b.workers)
                == (r.backend, r.variant, r.dtype, r.device, r.workers)
                and b.host in (None, host)
            ),
            (None, None),
        )
        if b is None or i is None:
            new.append(f"{r.label} {r.dtype}")
            continue
        matched.add(i)
        if r.diverged_at is not None or b.costs.shape != r.costs.shape:
            cost_abs = param_abs = math.inf
        else:
            cost_abs = differences(r.costs, b.costs)[0]
            param_abs = max(differences(r.weight, b.weight)[0], differences(r.bias, b.bias)[0])
        now = versions(r)
        changed = {
            k: (b.versions.get(k, "(none)"), now.get(k, "(none)"))
            for k in dict.fromkeys([*b.versions, *now])
            if b.versions.get(k) != now.get(k)
        }
        tol = spec.tolerance(r.dtype)
        entries.append(DriftEntry(r.label, r.dtype, cost_abs, param_abs, tol.cost, tol.param, changed))
    gone = [
        f"{b.backend}{'' if b.variant == 'lesson' else ':' + b.variant}{'' if b.workers == 1 else f':x{b.workers}'}"
        + f" {b.device}"
        + (f" on {b.host}" if b.host else "")
        + f" {b.dtype}"
        for i, b in enumerate(baseline.runs)
        if i not in matched
    ]
    return Drift(baseline.source, entries, new, gone)


# --- reading a baseline ----------------------------------------------------------------------


def load_baseline(path: str, spec_hash: str) -> Baseline:
    """An agreement report (report.json, or the folder it is in) or saved runs (a file or a folder).

    ``ValueError`` (one line, naming the file) for anything else, and for a baseline of another
    spec (a report older than spec hashes is taken as it is).
    """
    from .saved_runs.format import SCHEMA as RUN_SCHEMA
    from .saved_runs.load import load_runs

    report = os.path.join(path, "report.json") if os.path.isdir(path) else path
    data = _json(report) if os.path.isfile(report) else None
    if isinstance(data, dict) and data.get("schema") == REPORT_SCHEMA:
        return _from_report(report, data, spec_hash)
    if os.path.isfile(path) and not (isinstance(data, dict) and data.get("schema") == RUN_SCHEMA):
        raise ValueError(f"--baseline: {path}: neither an agreement report (report.json) nor a saved run")
    saved = load_runs([path], option="--baseline")
    if saved[0].spec_hash != spec_hash:
        raise ValueError(
            f"--baseline: {saved[0].path} is a run of another spec ({saved[0].spec.name}, "
            f"{saved[0].spec_hash[:19]}); its runs can't be compared with these"
        )
    return Baseline(
        path,
        [
            BaselineRun(
                s.run.backend,
                s.run.variant,
                s.run.dtype,
                s.run.device,
                s.host,
                s.run.costs,
                s.run.weight,
                s.run.bias,
                versions_of(s.settings, s.versions),
                s.run.workers,
            )
            for s in saved
            if s.role == "compared"
        ],
    )


def _json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _from_report(path: str, data: dict[str, Any], spec_hash: str) -> Baseline:
    spec: dict[str, Any] = data["spec"] if isinstance(data.get("spec"), dict) else {}
    recorded = spec.get("hash")
    if recorded is not None and recorded != spec_hash:
        name = spec.get("name")
        raise ValueError(f"--baseline: {path} is a report of another spec ({name}, {recorded[:19]})")
    try:
        versions = {b["name"]: b.get("versions", {}) for b in data["backends"]}
        runs = []
        for r in data["runs"]:
            dtype = r["dtype"]
            arrays = {k: np.asarray(r[k], dtype=dtype) for k in ("costs", "weight", "bias")}
            owner = r.get("owner", r["backend"])
            runs.append(
                BaselineRun(
                    r["backend"],
                    r["variant"],
                    dtype,
                    r["device"],
                    r.get("host"),
                    **arrays,
                    versions=versions_of(r.get("settings", {}), versions.get(owner)),
                    workers=int(r.get("workers", 1)),  # reports older than data-parallel runs: one process
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"--baseline: {path}: a report without the runs it needs ({type(exc).__name__}: {exc})"
        ) from None
    return Baseline(path, runs)
