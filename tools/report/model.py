"""The agreement report's content and verdict: what ran, every check, the reference trajectory.

``build_report`` takes what the backend processes returned (``runs.BackendRun``), runs every
check of ``softmax_rosetta.compare`` on it and keeps the verdict; the other modules of this
package render a ``Report`` (markdown, json_report, junit, plots) and write it (output).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from softmax_rosetta.compare import (
    Check,
    Deviation,
    SkippedCheck,
    backend_of,
    compare_all,
    deviation,
    scale_tolerances,
    skipped_checks,
    suspects,
)
from softmax_rosetta.envelopes import InForce, in_force_all
from softmax_rosetta.registry import REFERENCE_BACKEND
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec

from ..environment import environment
from .drift import Drift
from .runs import BackendRun
from .text import and_, check_name, md, printable, two_digits

# The reference trajectory every run is measured against: the float64 run of the lesson's
# loop in the reference backend (softmax_rosetta.registry.REFERENCE_BACKEND, plain NumPy).
REFERENCE_VARIANT = "lesson"
REFERENCE_DTYPE = "float64"


@dataclass
class BackendStatus:
    """One backend in the report: ``ran``, ``failed`` (to run) or ``skipped`` (not installed, no device)."""

    name: str
    status: str  # "pending" until it has run
    reason: str = ""
    requested: bool = False  # named in --backends (a default run asks for every installed one)
    device: str | None = None  # where it runs; None when skipped
    note: str = ""  # e.g. that it ran on the CPU, not the device asked for
    run: BackendRun | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "requested": self.requested,
            "device": self.device,
            "note": self.note,
            "versions": r.versions if r else {},
            "variants": r.variants if r else [],
            "seconds": r.seconds if r else None,
            "settings": r.settings if r else {},
            "environment": r.environment if r else {},
        }


@dataclass
class Report:
    spec: Spec  # with the tolerances in force (scaled)
    dtypes: list[str]
    device: str
    tolerance_scale: float
    backends: list[BackendStatus]
    checks: list[Check]
    runs: list[TrainResult]  # the runs that were checked
    outputs: dict[str, dict[str, dict[str, np.ndarray]]]  # {dtype: {backend: {output: values}}}
    reference: TrainResult | None  # the float64 reference run
    reference_error: str
    deviations: list[tuple[Deviation, np.ndarray]]
    errors: list[str]  # backends that failed to run, as sentences
    environment: dict[str, Any]  # the parent process's (environment.environment())
    command: list[str]
    started: str
    seconds: float = 0.0
    plots: dict[str, Any] = field(default_factory=lambda: {"files": [], "skipped": "not drawn yet"})
    # Saved runs from several machines (compare --runs): each run's label names its machine, and
    # ``owners`` maps it to its backend process there ("jax:fused cpu on mac" -> "jax cpu on mac").
    owners: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # {host label: its environment record}
    drift: Drift | None = None  # --baseline
    skipped_checks: list[SkippedCheck] = field(default_factory=list)  # checks the spec can't have, with why
    tolerances: dict[str, InForce] = field(default_factory=dict)  # {dtype: the tolerances in force, scaled}

    def tolerance_lines(self) -> list[str]:
        """One line per dtype: which tolerances its checks used and where they came from."""
        return [self.tolerances[d].line() for d in self.dtypes if d in self.tolerances]

    def owner(self, run_label: str) -> str:
        """The backend (on its machine, for saved runs) a run or forward output belongs to."""
        return self.owners.get(run_label, backend_of(run_label))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        drifted = self.drift is not None and not self.drift.passed
        return not self.errors and not self.failed and bool(self.checks) and not drifted

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    @property
    def suspects(self) -> list[str]:
        if not self.owners:
            return sorted(set(suspects(self.checks)) | set(self.failed_to_run))
        by_kind: dict[tuple[str, str], list[frozenset[str]]] = {}  # compare.suspects, by machine
        for c in self.failed:
            others = (c.b,) if c.check not in ("expected", "diverged") else ()
            by_kind.setdefault((c.check, c.dtype), []).append(frozenset(self.owner(x) for x in (c.a, *others)))
        named: set[str] = set(self.failed_to_run)
        for pairs in by_kind.values():
            common = frozenset.intersection(*pairs)
            named |= common if common else frozenset.union(*pairs)
        return sorted(named)

    @property
    def ran(self) -> list[str]:
        return [b.name for b in self.backends if b.status == "ran"]

    @property
    def failed_to_run(self) -> list[str]:
        return [b.name for b in self.backends if b.status == "failed"]

    @property
    def skipped(self) -> list[BackendStatus]:
        return [b for b in self.backends if b.status == "skipped"]

    @property
    def worst(self) -> Check | None:
        """The check closest to (or furthest past) its tolerance."""
        return max(self.checks, key=lambda c: c.headroom) if self.checks else None

    def verdict_line(self, markdown: bool = True) -> str:
        """The first line of report.md and the last line on the terminal: names, reasons and versions from
        elsewhere made printable, and in Markdown escaped (``text.md``) but for the bold PASS or FAIL."""
        text = self._verdict()
        word = text.split(":", 1)[0].split(" ", 1)[0]  # PASS or FAIL
        return f"**{word}**{md(text[len(word) :])}" if markdown else printable(text)

    def _verdict(self) -> str:
        bold = str
        where = f"spec {self.spec.name}, {', '.join(self.dtypes)}, device {self.device}"
        if self.tolerance_scale != 1:
            where += f", tolerances x {self.tolerance_scale:g}"
        skipped = ""
        if self.skipped:
            skipped = "; skipped (not counted as passing): " + ", ".join(f"{b.name} ({b.reason})" for b in self.skipped)
        n, bad, worst = len(self.checks), self.failed, self.worst
        if self.passed and worst is not None:
            who = (
                f"{and_(self.ran)} agree"
                if len(self.ran) > 1
                else f"{and_(self.ran)}, the only backend, matches the expected costs"
            )
            drift = f"; {self.drift.verdict_part()}" if self.drift is not None else ""
            return (
                f"{bold('PASS')}: {who} ({where}): all {n} checks within tolerance; "
                f"closest: {check_name(worst)} at {two_digits(worst.headroom)} of its tolerance{drift}{skipped}"
            )
        parts = []
        if self.errors:
            parts.append("; ".join(self.errors))
        if bad:
            kinds: dict[str, list[str]] = {}
            for c in bad:
                if c.dtype not in kinds.setdefault(c.check, []):
                    kinds[c.check].append(c.dtype)
            names = ", ".join(f"{check} ({', '.join(d)})" for check, d in kinds.items())
            first = (
                f"; first: {bad[0].a} ({bad[0].dtype}) diverged {bad[0].b}"
                if bad[0].check == "diverged"
                else f"; first: {check_name(bad[0])} at {two_digits(bad[0].headroom)} times its tolerance"
            )
            parts.append(f"{len(bad)} of {n} checks fail: {names}{first}")
        if not n and not self.errors:
            parts.append("nothing was compared")
        if self.drift is not None and not self.drift.passed:
            parts.append(self.drift.verdict_part())
        culprits = self.suspects
        pointing = f" (pointing at {and_(culprits)})" if culprits else ""
        return f"{bold('FAIL')}{pointing}: {'; '.join(parts)} ({where}){skipped}"


def build_report(
    spec: Spec,
    dtypes: Sequence[str],
    device: str,
    tolerance_scale: float,
    backends: list[BackendStatus],
    reference_run: BackendRun | None,
    command: Sequence[str],
    started: str,
    tolerances: dict[str, InForce] | None = None,
) -> Report:
    """Compare what the backend processes returned; ``reference_run`` is the reference backend's, when it ran.
    ``tolerances``: {dtype: ``envelopes.in_force``}, scaled (None: found now)."""
    if tolerances is None:
        tolerances = in_force_all(spec, dtypes, tolerance_scale)
    errors = [f"{b.name} failed to run: {b.reason}" for b in backends if b.status == "failed"]
    outputs: dict[str, dict[str, dict[str, np.ndarray]]] = {d: {} for d in dtypes}
    runs: list[TrainResult] = []
    for b in backends:
        if b.status != "ran" or b.run is None:
            continue
        for d in dtypes:
            if d in b.run.forward:
                outputs[d][b.name] = b.run.forward[d]
        runs += [r for r in b.run.runs if r.dtype in dtypes]
    checks = compare_all(outputs, runs, spec, tolerance_scale, tolerances)

    reference, reference_error = _reference(reference_run)
    if reference_error and REFERENCE_BACKEND not in [b.name for b in backends if b.status == "failed"]:
        errors.append(f"reference: {reference_error}")
    deviations = [deviation(r, reference.costs) for r in runs if r.diverged_at is None] if reference is not None else []
    return Report(
        spec=scale_tolerances(spec, tolerance_scale),
        dtypes=list(dtypes),
        device=device,
        tolerance_scale=tolerance_scale,
        backends=backends,
        checks=checks,
        runs=runs,
        outputs=outputs,
        reference=reference,
        reference_error=reference_error,
        deviations=deviations,
        errors=errors,
        environment=environment(),
        command=list(command),
        started=started,
        skipped_checks=skipped_checks(spec, dtypes),
        tolerances=dict(tolerances),
    )


def _reference(run: BackendRun | None) -> tuple[TrainResult | None, str]:
    """The reference trajectory, or why there is none."""
    if run is None:
        return None, "the NumPy backend did not run"
    if not run.ok:
        return None, f"the NumPy reference run failed: {run.error}"
    key = (REFERENCE_BACKEND, REFERENCE_VARIANT, REFERENCE_DTYPE)
    reference = next((r for r in run.runs if (r.backend, r.variant, r.dtype) == key), None)
    if reference is None:
        return None, "the NumPy process returned no float64 run"
    if reference.diverged_at is not None:
        return None, f"the NumPy float64 reference run diverged at epoch {reference.diverged_at}"
    return reference, ""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
