"""report.md's sections for runs from several machines (``compare --runs``) and for ``--baseline``:
where each machine's runs were made, and what moved since the baseline."""

from __future__ import annotations

from typing import Any

from .drift import NOT_IN_BASELINE, NOT_MADE_NOW, Drift
from .model import Report
from .text import code, md, short, table, three_digits, two_digits


def machines_section(report: Report) -> list[str]:
    """One row per machine (host label): its CPU, OS, Python and the versions its runs recorded."""
    rows = []
    for host, env in report.hosts.items():
        m = env.get("machine", {})
        backends = [b for b in report.backends if b.run is not None and b.name.endswith(f" on {host}")]
        versions: dict[str, Any] = {}
        for b in backends:
            if b.run is not None:
                versions.update(b.run.versions)
        threads = env.get("process", {}).get("env", {})
        rows.append(
            [
                md(host),
                short(m.get("cpu") or m.get("machine", "")),
                short(m.get("nproc", "")),
                short(m.get("platform", "")),
                short(m.get("python", "")),
                short(", ".join(f"{k} {v}" for k, v in {"numpy": m.get("numpy", ""), **versions}.items())),
                short(", ".join(f"{k}={v}" for k, v in threads.items())),
            ]
        )
    return [
        "## Machines",
        "",
        "Where each saved run was made, by its host label (`--label` when it was saved, else the hostname). "
        "The Environment section below is the machine this report was built on; each backend's settings there "
        "are as its machine recorded them.",
        "",
        *table(["host", "CPU", "CPUs", "OS", "Python", "versions", "environment variables"], rows, "llrllll"),
        "",
    ]


def drift_section(drift: Drift) -> list[str]:
    """Each run against the same run in the baseline: the largest change, and what changed; then the runs
    that have no counterpart, each saying so ("not in the baseline", "in the baseline, not made now")."""
    intro = (
        f"Each run against the same run (backend, variant, dtype, device, workers, host) in the baseline "
        f"{code(drift.source)}: the largest change of any cost and of any final parameter, against the spec's "
        "cost and param tolerances; and the versions and settings that changed between the two. A run with no "
        "counterpart is listed, not compared."
    )
    rows = [
        [
            md(e.run),
            md(e.dtype),
            three_digits(e.cost_abs),
            three_digits(e.param_abs),
            two_digits(e.headroom),
            short(e.changes()),
            "pass" if e.passed else "**FAIL**",
        ]
        for e in drift.entries
    ]
    for runs, why in ((drift.new, NOT_IN_BASELINE), (drift.gone, NOT_MADE_NOW)):
        for run in runs:
            name, dtype = run.rsplit(" ", 1)  # "torch:x2 cpu on a float32": the dtype is last
            rows.append([md(name), md(dtype), "", "", "", why, "not compared"])
    out = ["## Drift since the baseline", "", intro, ""]
    if not drift.entries:
        out += ["No run matches a run of the baseline: nothing was compared.", ""]
    if rows:
        out += table(["run", "dtype", "costs moved", "params moved", "headroom", "changed", "result"], rows, "llrrrll")
    return out + [""]
