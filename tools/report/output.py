"""Writing the report's five files so that only a finished run leaves a report.

Every file is written to a temporary file beside it and moved into place (``atomic_write``),
``clear_outputs`` removes the previous run's files (and the temporary files of a run that was
killed) before a run starts, and report.md is written last: an interrupted run leaves no report
at all rather than a truncated or stale one that could read as a pass.

One run at a time per folder: ``locked`` holds the folder for the whole run, and a second run
into it is refused at once (``PathError``) rather than leave one run's report beside the other's
plots. The lock is an ``flock`` on a hidden file in the folder, removed when the run ends; the
system releases it when a run is killed, so a dead run never keeps the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..files import PathError, atomic_write
from .json_report import to_json
from .junit import junit
from .markdown import markdown
from .model import Report
from .plots import write_plots

OUTPUTS = ("report.md", "report.json", "junit.xml", "loss.png", "deviation.png")
LOCK = ".softmax-rosetta.lock"


@contextlib.contextmanager
def locked(out_dir: str | os.PathLike[str], option: str = "--out") -> Iterator[None]:
    """Hold ``out_dir`` (an existing folder) while the block runs; ``PathError`` if another run holds it."""
    path = os.path.join(out_dir, LOCK)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise PathError(f"{option}: can't write into the folder {os.fspath(out_dir)!r}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read(path)
            by = f" (process {holder})" if holder else ""
            raise PathError(
                f"{option}: {os.fspath(out_dir)!r} is in use by another softmax-rosetta compare run{by}; "
                "wait for it, or give another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # a run that was ending may have removed the file between open and flock: lock the new one
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def clear_outputs(out_dir: str | os.PathLike[str]) -> None:
    """Remove the previous run's report files, and the temporary files a killed run left behind
    (only those ``atomic_write`` and the folder check make: ``.NAME.*.tmp``)."""
    stale = [os.path.join(out_dir, name) for name in OUTPUTS]
    for prefix in (*OUTPUTS, "softmax-rosetta-probe"):
        stale += glob.glob(os.path.join(glob.escape(os.fspath(out_dir)), f".{prefix}.*.tmp"))
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


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
