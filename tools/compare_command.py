"""``softmax-rosetta compare``: the agreement report (the work is in tools/report/; docs/report.md)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import PROG, UsageError, add_debug, int_at_least, positive_float, spec_option, split_names


def add_parser(sub: Any) -> None:
    compare = sub.add_parser(
        "compare",
        help="run every installed backend, check that they agree, write the agreement report",
        description="Run each backend in its own process on the spec, compare every pair of backends and "
        "each against the float64 NumPy reference, and write report.md, report.json, junit.xml, "
        "loss.png and deviation.png to --out. Exit status 0: everything agrees; 1: a check "
        "failed or a backend failed to run; 2: a usage error.",
    )
    compare.add_argument("--backends", default=None, help="comma-separated backends (default: every installed one)")
    compare.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    compare.add_argument("--device", default="cpu", help="cpu (default) or cuda; NumPy always runs on the CPU")
    spec_option(compare)
    compare.add_argument("--out", default="reports", help="folder for the report files (default: reports)")
    compare.add_argument(
        "--tolerance-scale",
        type=positive_float(),
        default=1.0,
        metavar="F",
        help="multiply every tolerance by F (< 1 tightens: how much headroom is there?)",
    )
    compare.add_argument("--no-plots", action="store_true", help="don't draw loss.png and deviation.png")
    compare.add_argument(
        "--timeout",
        type=positive_float(),
        default=None,
        metavar="SECONDS",
        help="give up on a backend process after this long (default: no limit)",
    )
    compare.add_argument(
        "--workers",
        type=int_at_least(1),
        default=None,
        metavar="K",
        help="also run the lesson data parallel on K workers, for each backend that can (torch, jax), "
        "checked like any other run (docs/distributed.md)",
    )
    saved = compare.add_argument_group("saved runs: compare runs made on other machines and versions (docs/report.md)")
    saved.add_argument("--save-runs", metavar="DIR", help="also write each run as a saved-run JSON file into DIR")
    saved.add_argument(
        "--label", help="the host label saved runs and --baseline name this machine by (default: its hostname)"
    )
    saved.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR_OR_FILE",
        help="build the report from saved runs (files, or folders of *.json) instead of running anything",
    )
    saved.add_argument(
        "--baseline",
        metavar="REPORT_OR_RUNS",
        help="an older report.json (or its folder) or saved runs: add the drift of every run since then",
    )
    # None: not given (--runs takes the spec, dtypes and devices from the runs)
    compare.set_defaults(run=main, spec=None, dtypes=None, device=None)
    add_debug(compare)


RUN_ONLY = ("backends", "device", "spec", "timeout", "save_runs", "label", "workers")  # what --runs can't take


def _with_runs(args: argparse.Namespace) -> list[str] | None:
    """--dtypes for --runs (None: every dtype the runs have); a run-only option is a usage error."""
    from softmax_rosetta.spec import DTYPES

    for name in RUN_ONLY:
        if getattr(args, name, None) is not None:
            raise UsageError(f"--{name.replace('_', '-')}: not with --runs (the runs were made already)")
    return None if args.dtypes is None else split_names(args.dtypes, DTYPES, "dtypes")


def main(args: argparse.Namespace) -> int:
    """The agreement report: see tools/report/ and docs/report.md."""
    from softmax_rosetta.registry import BACKENDS
    from softmax_rosetta.spec import DTYPES

    from .report import CompareError, CompareOptions, compare
    from .report.saved_runs.format import SavedRunError

    if args.runs is not None:
        options = CompareOptions(
            dtypes=_with_runs(args) or [],
            out=args.out,
            tolerance_scale=args.tolerance_scale,
            plots=not args.no_plots,
            command=command_line(args),
            runs=args.runs,
            baseline=args.baseline,
        )
        try:
            return compare(options)
        except (CompareError, SavedRunError) as exc:
            raise UsageError(str(exc)) from None
    if args.label is not None and args.save_runs is None and args.baseline is None:
        raise UsageError("--label: only with --save-runs or --baseline (it names this machine's runs)")
    args.spec = args.spec or "seed"
    args.dtypes = args.dtypes or "float32,float64"
    args.device = args.device or "cpu"
    dtypes = split_names(args.dtypes, DTYPES, "dtypes")
    backends = None if args.backends is None else split_names(args.backends, list(BACKENDS), "backends")
    options = CompareOptions(
        spec=args.spec,
        backends=backends,
        dtypes=dtypes,
        device=args.device,
        out=args.out,
        tolerance_scale=args.tolerance_scale,
        plots=not args.no_plots,
        timeout=args.timeout,
        workers=args.workers or 1,
        command=command_line(args),
        save_runs=args.save_runs,
        label=args.label,
        baseline=args.baseline,
    )
    try:
        return compare(options)
    except (CompareError, SavedRunError) as exc:
        raise UsageError(str(exc)) from None


def command_line(args: argparse.Namespace) -> list[str]:
    """The command line that repeats this comparison, for the report."""
    cmd = [PROG, "compare"]
    if args.runs is not None:
        cmd += ["--runs", *args.runs] + (["--dtypes", args.dtypes] if args.dtypes else []) + ["--out", args.out]
        cmd += ["--baseline", args.baseline] if args.baseline else []
        cmd += [f"--tolerance-scale={args.tolerance_scale:g}"] if args.tolerance_scale != 1 else []
        return cmd + (["--no-plots"] if args.no_plots else [])
    if args.backends is not None:
        cmd += ["--backends", args.backends]
    cmd += ["--dtypes", args.dtypes, "--device", args.device, "--spec", args.spec, "--out", args.out]
    if args.tolerance_scale != 1:
        cmd += ["--tolerance-scale", f"{args.tolerance_scale:g}"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if args.no_plots:
        cmd.append("--no-plots")
    if args.save_runs is not None:
        cmd += ["--save-runs", args.save_runs] + (["--label", args.label] if args.label is not None else [])
    if args.baseline is not None:
        cmd += ["--baseline", args.baseline]
    return cmd
