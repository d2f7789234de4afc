"""The conformance matrix, rendered: Markdown for people (stdout, --md), JSON for dashboards (--json),
and the README's backend table, a row per backend (--summary, --readme). One result object, three small
renderers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, DECLARED, NA = "pass", "FAIL", "declared", "n/a"
STATUSES = (PASS, FAIL, DECLARED, NA)


@dataclass(frozen=True)
class Row:
    group: str
    check: str
    dtype: str
    status: str  # one of STATUSES
    detail: str = ""
    reason: str = ""  # the deviations file's reason, where the check is declared


@dataclass
class Report:
    backend: str
    display_name: str
    distribution: str
    versions: dict[str, str]
    dtypes: list[str]
    specs: list[str]
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    deviations_file: str = ""

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def failed(self) -> bool:
        return self.count(FAIL) > 0

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in STATUSES)
        return f"{self.backend}: {counts} ({len(self.rows)} checks) in {self.seconds:.0f} s"


def markdown(report: Report) -> str:
    checks = list(dict.fromkeys((r.group, r.check) for r in report.rows))
    cell = {(r.check, r.dtype): r for r in report.rows}
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items()) or "no version recorded"
    lines = [
        f"# Conformance: {report.display_name} (`{report.backend}`, from {report.distribution})",
        "",
        f"{versions}; specs: {', '.join(report.specs)}. {report.summary()}.",
        "",
        "| group | check | " + " | ".join(report.dtypes) + " |",
        "|---|---|" + "---|" * len(report.dtypes),
    ]
    for group, check in checks:
        cells = [cell[(check, d)].status if (check, d) in cell else "" for d in report.dtypes]
        lines.append(f"| {group} | `{check}` | " + " | ".join(f"**{c}**" if c == FAIL else c for c in cells) + " |")
    notes = [r for r in report.rows if r.status != PASS or r.reason]
    if notes:
        lines += ["", "## Notes", ""]
        said: dict[tuple[str, str, str], list[str]] = {}  # one line per status, dtype and reason
        for r in notes:
            why = r.reason if r.status == DECLARED else r.detail
            if r.status == PASS:
                why = f"declared a deviation ({r.reason}), but passes: {r.detail}"
            said.setdefault((r.status, r.dtype, why.replace("\n", " ")), []).append(r.check)
        for (status, dtype, why), names in said.items():
            every = len(names) > 1 and len(names) == sum(r.dtype == dtype for r in report.rows)
            checks_named = "every check" if every else ", ".join(f"`{name}`" for name in names)
            lines.append(f"- **{status}** {checks_named} {dtype}: {why}")
    return "\n".join(lines) + "\n"


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "backend": report.backend,
        "display_name": report.display_name,
        "distribution": report.distribution,
        "versions": report.versions,
        "dtypes": report.dtypes,
        "specs": report.specs,
        "deviations_file": report.deviations_file,
        "seconds": report.seconds,
        "counts": {s: report.count(s) for s in STATUSES},
        "passed": not report.failed,
        "checks": [r.__dict__ for r in report.rows],
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


SUMMARY_COLUMNS = ("backend", "checks passed", "declared deviations", "failures", "not applicable", "time")
SUMMARY_HEADER = "| " + " | ".join(SUMMARY_COLUMNS) + " |\n" + "|---" * len(SUMMARY_COLUMNS) + "|"


def _cell(text: str) -> str:
    """Text as one table cell: on one line, a ``|`` escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def not_applicable(report: Report) -> str:
    """The n/a checks, counted, with why: ``0``, or ``21: every float64 check: no float64 on the CPU: ...``."""
    rows = [r for r in report.rows if r.status == NA]
    if not rows:
        return "0"
    said: dict[tuple[str, str], list[str]] = {}  # the checks of one dtype with one reason
    for r in rows:
        said.setdefault((r.dtype, r.detail), []).append(r.check)
    parts = []
    for (dtype, why), names in said.items():
        every = len(names) > 1 and len(names) == sum(r.dtype == dtype for r in report.rows)
        named = f"every {dtype} check" if every else ", ".join(f"`{name}`" for name in names) + f" in {dtype}"
        parts.append(f"{named}: {why}")
    return f"{len(rows)}: " + "; ".join(parts)


def summary_row(report: Report) -> str:
    """One row of the README's backend table: what ``conform`` measured, not what anyone wrote."""
    run = len(report.rows) - report.count(NA)
    cells = [
        f"{report.display_name} (`{report.backend}`)",
        f"{report.count(PASS)} of {run}",
        str(report.count(DECLARED)),
        str(report.count(FAIL)),
        not_applicable(report),
        f"{report.seconds:.0f} s",
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def summary_table(reports: list[Report]) -> str:
    """The README's backend table: the header, then one row per report in their order; no final newline."""
    return "\n".join([SUMMARY_HEADER, *(summary_row(r) for r in reports)])
