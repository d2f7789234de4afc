"""Writing the report's five files so that only a finished run leaves a report.

Every file is written to a temporary file beside it and moved into place (``atomic_write``),
``clear_outputs`` removes the previous run's files before a run starts, and report.md is
written last: an interrupted run leaves no report at all rather than a truncated or stale one
that could read as a pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..files import atomic_write
from .json_report import to_json
from .junit import junit
from .markdown import markdown
from .model import Report
from .plots import write_plots

OUTPUTS = ("report.md", "report.json", "junit.xml", "loss.png", "deviation.png")


def clear_outputs(out_dir: str | os.PathLike[str]) -> None:
    """Remove the previous run's report files."""
    for name in OUTPUTS:
        try:
            os.unlink(os.path.join(out_dir, name))
        except FileNotFoundError:
            pass


def write_report(report: Report, out_dir: str | os.PathLike[str], plots: bool = True) -> list[str]:
    """Write the five files (report.md last); append report.md to $GITHUB_STEP_SUMMARY if set."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        report.plots = write_plots(report, out)
    else:
        report.plots = {"files": [], "skipped": "turned off (--no-plots)"}
    written = [str(out / f) for f in report.plots["files"]]
    atomic_write(out / "report.json", json.dumps(to_json(report), indent=1, allow_nan=False) + "\n")
    atomic_write(out / "junit.xml", junit(report))
    md = markdown(report)
    atomic_write(out / "report.md", md)
    written += [str(out / n) for n in ("report.json", "junit.xml", "report.md")]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(
                md.replace("](loss.png)", "](loss.png) (in the uploaded reports artifact)").replace(
                    "](deviation.png)", "](deviation.png) (in the uploaded reports artifact)"
                )
                + "\n"
            )
    return written
