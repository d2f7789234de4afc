"""``softmax-rosetta compare``: the agreement report (the work is in tools/report/; docs/report.md)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import PROG, UsageError, add_debug, positive_float, spec_option, split_names


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
    compare.set_defaults(run=main)
    add_debug(compare)


def main(args: argparse.Namespace) -> int:
    """The agreement report: see tools/report/ and docs/report.md."""
    from softmax_rosetta.registry import BACKENDS
    from softmax_rosetta.spec import DTYPES

    from .report import CompareError, CompareOptions, compare

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
        command=command_line(args),
    )
    try:
        return compare(options)
    except CompareError as exc:
        raise UsageError(str(exc)) from None


def command_line(args: argparse.Namespace) -> list[str]:
    """The command line that repeats this comparison, for the report."""
    cmd = [PROG, "compare"]
    if args.backends is not None:
        cmd += ["--backends", args.backends]
    cmd += ["--dtypes", args.dtypes, "--device", args.device, "--spec", args.spec, "--out", args.out]
    if args.tolerance_scale != 1:
        cmd += ["--tolerance-scale", f"{args.tolerance_scale:g}"]
    if args.no_plots:
        cmd.append("--no-plots")
    return cmd
