"""``softmax-rosetta compare --runs DIR_OR_FILE ...``: the agreement report from saved runs, made
anywhere, without running anything.

Every saved run must be of one spec (the same ``spec_hash``); the spec comes with the runs (its
TOML text is in each file), so no spec file is needed. Each backend process on each machine is one
"backend" of the report ("torch cuda on runner-gpu"), and every pair of runs of a dtype is checked
against the spec's tolerances (derived or hand-set, as a local compare: ``envelopes.in_force``): the same
backend on two machines is two runs.
"""

from __future__ import annotations

import contextlib
import time

from ..command import CompareError, CompareOptions, check_tolerance_scale, hold_out, print_outcome, tolerances_in_force
from ..model import build_report, now
from ..output import write_report
from . import options as saving
from .identity import PlacedRun
from .load import load_runs


def compare_runs(options: CompareOptions) -> int:
    """Build and write the report from ``options.runs``; the exit status: 0 everything agrees, 1 it doesn't."""
    start, started = time.perf_counter(), now()
    assert options.runs is not None
    saved = load_runs(options.runs)
    spec = saved[0].spec
    dtypes = saving.dtypes_of(saved, options.dtypes or None)
    check_tolerance_scale(spec, dtypes, options.tolerance_scale)
    tolerances = tolerances_in_force(spec, dtypes, options.tolerance_scale)
    statuses, reference = saving.backends_from(saved, dtypes)
    if len(statuses) < 2 and not spec.expected_costs:
        raise CompareError(
            f"nothing to compare: one run ({statuses[0].name}) and spec {spec.name!r} lists no expected costs"
        )
    baseline = saving.baseline(options.baseline, spec)
    hosts = saving.hosts(saved)
    print(f"{len(saved)} saved runs of spec {spec.name} from {len(hosts)} machines: {', '.join(hosts)}", flush=True)
    with contextlib.ExitStack() as held:
        hold_out(held, options.out)
        devices = ", ".join(sorted({b.device or "" for b in statuses}))
        report = build_report(
            spec,
            dtypes,
            devices,
            options.tolerance_scale,
            statuses,
            reference,
            command=options.command,
            started=started,
            tolerances=tolerances,
        )
        report.owners = saving.owners(statuses)
        report.hosts = hosts
        if baseline is not None:
            report.drift = saving.drift(report, baseline, lambda r: r.host if isinstance(r, PlacedRun) else "")
        report.seconds = time.perf_counter() - start
        write_report(report, options.out, plots=options.plots)
    print_outcome(report, options.out)
    return report.exit_status
