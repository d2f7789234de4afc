"""What ``compare`` does with saved runs: ``--save-runs`` (each run to a file), ``--baseline`` (drift),
and, for ``--runs``, the report's backends rebuilt from saved runs made on other machines.

Every mistake is ``SavedRunError``: one line, exit status 2, before anything runs or is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from softmax_rosetta.backend import Backend
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import Spec

from ..drift import Baseline, Drift, load_baseline, measure, versions_of
from ..model import REFERENCE_BACKEND, REFERENCE_DTYPE, REFERENCE_VARIANT, BackendStatus, Report
from ..runs import BackendRun
from .format import SavedRun, SavedRunError, host_label, saved_run, spec_text, target, write_run
from .identity import PlacedRun, spec_hash


def host(label: str | None) -> str:
    return host_label(label)


def baseline(path: str | None, spec: Spec) -> Baseline | None:
    if path is None:
        return None
    try:
        return load_baseline(path, spec_hash(spec))
    except ValueError as exc:  # SavedRunError too
        text = str(exc)
        raise SavedRunError(text if text.startswith("--baseline") else f"--baseline: {text}") from None


def drift(report: Report, base: Baseline, host_of: Callable[[TrainResult], str]) -> Drift:
    """The report's runs against the baseline's, with the report's tolerances (scaled)."""
    settings = {b.name: (b.run.settings, b.run.versions) for b in report.backends if b.run is not None}

    def recorded(r: TrainResult) -> dict[str, Any]:
        process_settings, versions = settings.get(report.owner(r.label), ({}, {}))
        return versions_of({**process_settings, **r.settings}, versions)

    return measure(report.runs, base, report.spec, host_of, recorded)


def save_runs(
    folder: str,
    spec: Spec,
    host: str,
    statuses: Sequence[BackendStatus],
    reference: BackendRun | None,
    dtypes: Sequence[str],
) -> list[str]:
    """Every run the backend processes made, one file each; the reference-only runs marked as such."""
    text = spec_text(spec)
    processes = [b.run for b in statuses if b.run is not None and b.run.ok]
    if reference is not None and reference.ok and all(reference is not p for p in processes):
        processes.append(reference)
    contents = []
    for p in processes:
        for r in p.runs:
            data = saved_run(
                r,
                p.forward[r.dtype],
                spec,
                text,
                host,
                versions=p.versions,
                settings=p.settings,
                environment=p.environment,
                role="compared" if r.dtype in dtypes and _in(p, statuses) else "reference",
            )
            contents.append(data)
    targets = [target(folder, data) for data in contents]  # every file checked before any is written
    if len(set(targets)) != len(targets):  # two runs of one identity in one save: a bug, never a silent loss
        raise AssertionError(f"two runs of this comparison would share a file: {targets}")
    return [write_run(folder, data) for data in contents]


def _in(process: BackendRun, statuses: Sequence[BackendStatus]) -> bool:
    return any(b.run is process for b in statuses)


# --- compare --runs: the report's backends from saved runs ---------------------------------------


def dtypes_of(saved: Sequence[SavedRun], asked: Sequence[str] | None) -> list[str]:
    """The dtypes compared: those asked for (each must have runs), else every dtype a compared run has."""
    have = sorted({s.run.dtype for s in saved if s.role == "compared"})
    if asked is None:
        if not have:
            raise SavedRunError("--runs: only reference runs; nothing to compare")
        return have
    missing = [d for d in asked if d not in have]
    if missing:
        raise SavedRunError(f"--dtypes: no saved {missing[0]} run to compare (the runs have: {', '.join(have)})")
    return list(asked)


def backends_from(saved: Sequence[SavedRun], dtypes: Sequence[str]) -> tuple[list[BackendStatus], BackendRun]:
    """One ``BackendStatus`` per backend process on each machine ("torch cpu on runner-gpu"), and
    the reference run (the first float64 NumPy lesson run, from any machine)."""
    groups: dict[str, list[SavedRun]] = {}
    for s in saved:
        if s.role == "compared" and s.run.dtype in dtypes:
            groups.setdefault(s.run.owner, []).append(s)
    statuses = []
    for owner, members in groups.items():
        first = members[0]
        run = BackendRun(
            owner,
            True,
            sum(m.run.seconds for m in members),
            device=first.run.device,
            versions=first.versions,
            variants=list(dict.fromkeys(m.run.variant for m in members)),
            settings=first.settings,
            environment=first.environment,
            forward={m.run.dtype: m.forward for m in members},
            runs=[m.run for m in members],
        )
        statuses.append(BackendStatus(owner, "ran", requested=True, device=first.run.device, run=run))
    key = (REFERENCE_BACKEND, REFERENCE_VARIANT, REFERENCE_DTYPE)
    refs = [s for s in saved if (s.run.backend, s.run.variant, s.run.dtype) == key]
    reference = BackendRun(REFERENCE_BACKEND, False, 0.0, error="no saved float64 NumPy run among the runs")
    if refs:
        ref = refs[0].run
        reference = BackendRun(REFERENCE_BACKEND, True, ref.seconds, device=ref.device, runs=[ref])
    return statuses, reference


def owners(statuses: Sequence[BackendStatus]) -> dict[str, str]:
    """Each run's label -> its backend process on its machine."""
    return {r.label: r.owner for b in statuses if b.run is not None for r in b.run.runs if isinstance(r, PlacedRun)}


def hosts(saved: Sequence[SavedRun]) -> dict[str, dict[str, Any]]:
    """Each host label and the environment its first run recorded."""
    found: dict[str, dict[str, Any]] = {}
    for s in saved:
        found.setdefault(s.host, s.environment)
    return found


def save_train_run(path: str, backend: Backend, spec: Spec, result: TrainResult, host: str) -> str:
    """``train --save-run FILE``: the run, with the backend's forward outputs and this machine's record."""
    from softmax_rosetta.compare import forward_outputs

    from ...environment import environment

    data = saved_run(
        result,
        forward_outputs(backend, spec),
        spec,
        spec_text(spec),
        host,
        versions=backend.versions(),
        settings=backend.settings(),
        environment=environment(),
    )
    return write_run(path, data)
