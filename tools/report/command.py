"""``softmax-rosetta compare``: choose the backends, run each in a process of its own, then build
and write the agreement report.

    code = compare(CompareOptions(backends=["numpy", "torch"], dtypes=["float32"], out="reports"))

The float64 run of the reference backend is always made (``REFERENCE_BACKEND``): with the
others when it is one of them, on its own otherwise. Progress is one line per process on
stdout; after the report is written come the failing checks, the summary table and the
verdict, last. A mistake in the options raises ``CompareError`` before anything runs: an
``--out`` or ``$GITHUB_STEP_SUMMARY`` that can't be written, an ``--out`` another run holds
(``output.locked``: one run at a time per folder) and a ``--tolerance-scale`` that would turn a
tolerance into 0 are mistakes too.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from softmax_rosetta.envelopes import DERIVED_NOW, InForce, in_force_all
from softmax_rosetta.registry import BACKENDS, backend_class, declared_no_float64, missing_packages
from softmax_rosetta.spec import Spec, load_spec

from ..files import PathError, writable_file, writable_folder
from . import runs
from .markdown import skipped_lines, summary_table
from .model import REFERENCE_BACKEND, REFERENCE_DTYPE, BackendStatus, Report, build_report, now
from .output import clear_outputs, locked, write_report
from .saved_runs import options as saving
from .text import printable

DEVICES = ("cpu", "cuda")


class CompareError(Exception):
    """A mistake in the options (a device, a backend that can't run, the output folder): nothing ran."""


@dataclass
class CompareOptions:
    spec: str = "seed"  # a bundled spec's name or a TOML file's path
    backends: list[str] | None = None  # None: every installed one (the others are listed as skipped)
    dtypes: list[str] = field(default_factory=lambda: ["float32", "float64"])
    device: str = "cpu"
    out: str = "reports"
    tolerance_scale: float = 1.0
    plots: bool = True
    timeout: float | None = None  # seconds for each backend's process; None: no limit
    workers: int = 1  # > 1: also each data-parallel backend's lesson on that many workers
    command: list[str] = field(default_factory=list)  # the command line that repeats the run, for the report
    save_runs: str | None = None  # a folder: each run as a saved-run file (saved_runs/format.py)
    label: str | None = None  # the host label saved runs and drift name this machine by; None: its hostname
    runs: list[str] | None = None  # saved runs (files, folders) to compare instead of running anything
    baseline: str | None = None  # an older report.json or saved runs: the drift section


def compare(options: CompareOptions) -> int:
    """Run the comparison and write the report; the exit status: 0 everything agrees, 1 it doesn't."""
    if options.runs is not None:
        from .saved_runs.compare import compare_runs

        return compare_runs(options)
    start, started = time.perf_counter(), now()
    spec = load_spec(options.spec)
    for dtype in options.dtypes:
        spec.tolerance(dtype)  # a spec without tolerances for a dtype is a usage error, before any work
    check_tolerance_scale(spec, options.dtypes, options.tolerance_scale)
    smallest = min(len(rows) for rows in spec.batches(0))  # every epoch's batches have the same sizes
    if options.workers > smallest:
        raise CompareError(
            f"--workers: {options.workers} is more than the {smallest} rows of spec {spec.name}'s smallest batch"
        )
    if options.device not in DEVICES:
        raise CompareError(f"--device: unknown device {options.device!r}; known: {', '.join(DEVICES)}")
    statuses = choose_backends(options.backends, options.device)
    to_run = [b for b in statuses if b.status == "pending"]
    if not to_run:
        raise CompareError("no backend can run here")
    if len(to_run) < 2 and not spec.expected_costs:
        raise CompareError(
            f"nothing to compare: one backend ({to_run[0].name}) and spec {spec.name!r} lists no expected costs"
        )
    out = options.out
    host = saving.host(options.label) if options.save_runs is not None or options.baseline else ""
    baseline = saving.baseline(options.baseline, spec)
    with contextlib.ExitStack() as held:
        hold_out(held, out, options.save_runs)  # first: a folder in use is refused before any work
        tolerances = tolerances_in_force(spec, options.dtypes, options.tolerance_scale)
        for b in statuses:
            if b.status == "skipped":
                print(f"[ skip ] {b.name}: {b.reason}", flush=True)
        spec_path = os.path.abspath(spec.path) if spec.path else options.spec
        reference = run_backends(to_run, spec_path, options.dtypes, options.timeout, options.workers)
        report = build_report(
            spec,
            options.dtypes,
            options.device,
            options.tolerance_scale,
            statuses,
            reference,
            command=options.command,
            started=started,
            tolerances=tolerances,
        )
        if baseline is not None:
            report.drift = saving.drift(report, baseline, lambda r: host)
        report.seconds = time.perf_counter() - start
        if options.save_runs is not None:
            saved = saving.save_runs(options.save_runs, spec, host, statuses, reference, options.dtypes)
            print(f"saved {len(saved)} runs to {options.save_runs} (host label {host!r})", flush=True)
        write_report(report, out, plots=options.plots)
    print_outcome(report, out)
    return report.exit_status


def hold_out(held: contextlib.ExitStack, out: str, save_runs: str | None = None) -> None:
    """Check that every file the run writes can be written, hold ``out`` against other runs for as long
    as ``held`` lasts, and clear the previous report from it: only a finished run leaves one behind."""
    try:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            writable_file(summary, "$GITHUB_STEP_SUMMARY", append=True)
        if save_runs is not None:
            writable_folder(save_runs, "--save-runs")
        held.enter_context(locked(writable_folder(out, "--out")))
    except PathError as exc:
        raise CompareError(str(exc)) from None
    clear_outputs(out)


def check_tolerance_scale(spec: Spec, dtypes: Sequence[str], scale: float) -> None:
    """A ``--tolerance-scale`` that turns a tolerance into 0, a subnormal or inf is a usage error:
    every check divides by its tolerance."""
    for dtype in dtypes:
        t = spec.tolerance(dtype)
        for name in ("expected_cost", "cost", "param", "output"):
            value = getattr(t, name)
            scaled = value * scale
            if scaled < sys.float_info.min:
                what = "underflows to 0" if scaled == 0 else f"is {scaled:g}, a subnormal float"
                raise CompareError(
                    f"--tolerance-scale: {scale!r} times the {dtype} {name} tolerance ({value:g}) {what}; "
                    f"use at least {sys.float_info.min / value:.3g}"
                )
            if scaled == math.inf:
                raise CompareError(
                    f"--tolerance-scale: {scale!r} times the {dtype} {name} tolerance ({value:g}) overflows to inf"
                )


def tolerances_in_force(spec: Spec, dtypes: Sequence[str], scale: float) -> dict[str, InForce]:
    """Each dtype's tolerances (``envelopes.in_force``), scaled; a line for each envelope derived now, and a
    ``--tolerance-scale`` that would turn an envelope into 0 or a subnormal is a usage error."""
    held = in_force_all(spec, dtypes)
    for dtype, t in held.items():
        if t.origin == DERIVED_NOW:
            print(f"tolerances: {dtype} envelope derived now in {t.seconds:.1f} s: {t.why}", flush=True)
        smallest = t.smallest()
        if smallest * scale < sys.float_info.min:
            raise CompareError(
                f"--tolerance-scale: {scale!r} times the smallest {dtype} envelope ({smallest:g}) is "
                f"{smallest * scale:g}; use at least {sys.float_info.min / smallest:.3g}"
            )
    return {dtype: t.scaled(scale) for dtype, t in held.items()}


def choose_backends(names: Sequence[str] | None, device: str) -> list[BackendStatus]:
    """Each backend asked for (None: every known one) as ``pending``, or ``skipped`` with the reason.

    A backend named in ``names`` that can't run is a ``CompareError``. One that does not know
    ``device`` at all runs on the CPU, and the report says so.
    """
    requested = names is not None
    statuses = []
    for name in dict.fromkeys(names if names is not None else BACKENDS):
        status = BackendStatus(name, "pending", requested=requested, device=device)
        missing = missing_packages(name)
        if missing:
            status.reason = (
                f"not installed: needs {', '.join(missing)} (pip install 'softmax-rosetta[{BACKENDS[name].extra}]')"
            )
        elif device != "cpu":  # every backend runs on the CPU; only another device needs the framework imported
            cls = backend_class(name)
            if device not in cls.known_devices():
                status.device = "cpu"
                status.note = f"the {name} backend does not run on {device}; it ran on the CPU"
            elif device not in cls.available_devices():
                status.reason = (
                    f"no {device} device visible to {name} (available: {', '.join(cls.available_devices())})"
                )
        if status.reason:
            if requested:
                raise CompareError(f"--backends: {name}: {status.reason}")
            status.status, status.device = "skipped", None
        statuses.append(status)
    return statuses


def run_backends(
    to_run: list[BackendStatus], spec_path: str, dtypes: Sequence[str], timeout: float | None, workers: int = 1
) -> runs.BackendRun:
    """Run each backend in its own process, one after the other, with a progress line each; fill in
    their status. Returns the reference backend's run (made on its own when it is not among them)."""
    reference = None
    has_reference = any(b.name == REFERENCE_BACKEND for b in to_run)
    steps = len(to_run) + (0 if has_reference else 1)
    for i, b in enumerate(to_run, 1):
        run_dtypes = list(dtypes)
        if b.name == REFERENCE_BACKEND and REFERENCE_DTYPE not in run_dtypes:
            run_dtypes.append(REFERENCE_DTYPE)
        device = b.device or "cpu"
        if "float64" in run_dtypes and device in (why := declared_no_float64(b.name)):
            run_dtypes.remove("float64")  # the backend says it can't: its float64 pairs are left out, and why
            b.note = "; ".join(filter(None, [b.note, f"no float64 on {device}: {why[device]}"]))
        b.run = _run(
            f"[{i}/{steps}] {b.name}: {', '.join(run_dtypes)} on {device}",
            b.name,
            spec_path,
            run_dtypes,
            device,
            timeout,
            workers,
        )
        b.status, b.reason = ("ran", "") if b.run.ok else ("failed", b.run.error)
        if b.name == REFERENCE_BACKEND:
            reference = b.run
    if reference is None:
        reference = _run(
            f"[{steps}/{steps}] reference: {REFERENCE_BACKEND} {REFERENCE_DTYPE} on cpu",
            REFERENCE_BACKEND,
            spec_path,
            [REFERENCE_DTYPE],
            "cpu",
            timeout,
        )
    return reference


def _run(
    title: str, name: str, spec_path: str, dtypes: list[str], device: str, timeout: float | None, workers: int = 1
) -> runs.BackendRun:
    print(f"{title}, in its own process ...", end="", flush=True)
    run = runs.run_backend(name, spec_path, dtypes, device, timeout=timeout, workers=workers)
    print(
        f" {'done' if run.ok else 'FAILED'} in {run.seconds:.1f} s" + ("" if run.ok else f": {run.error}"), flush=True
    )
    return run


def print_outcome(report: Report, out: str) -> None:
    """The failing checks first, then the summary table, where the files are, and the verdict last."""
    print()
    for line in report.tolerance_lines():
        print(printable(f"tolerances: {line}"))
    print()
    if report.failed:
        print(f"Failing checks ({len(report.failed)}):")
        for c in report.failed:
            print(f"  {c.line()}")
        print()
    for line in summary_table(report):
        print(line)
    for line in skipped_lines(report):
        print(f"\n{printable(line)}")
    if report.plots["skipped"]:
        print(f"\nplots skipped: {report.plots['skipped']}")
    print(
        f"\nreport: {os.path.join(out, 'report.md')} (also report.json, junit.xml"
        + "".join(f", {f}" for f in report.plots["files"])
        + ")"
    )
    print(report.verdict_line(markdown=False))
