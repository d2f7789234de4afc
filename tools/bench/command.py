"""``softmax-rosetta bench``: its options, and what it prints and writes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from softmax_rosetta.backend import BackendError
from softmax_rosetta.registry import backend_class

from .. import worker
from ..files import atomic_write, writable_file
from ..options import UsageError, int_at_least, positive_float
from . import report, scaling, scaling_report
from .runner import Options, _backends, run


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``bench`` subcommand, added to the command line's subparsers."""
    bench = sub.add_parser(
        "bench",
        help="time every backend's training variants against the machine's floor",
        description="Time every backend's training variants (each backend in its own process, threads pinned) on "
        "three workloads: T, the seed spec (per-step overhead); M, the digits (1797 x 64 -> 10); L, "
        "synthetic 100,000 x 784 -> 10. M and L are compared to the machine's floor, measured in the "
        "same run: max(bytes of X / memory read bandwidth, 4 N D C flops / float32 matmul rate) per "
        "epoch. Prints a table; docs/benchmarks.md has the numbers and how to read them. With --workers "
        "K,K...: data-parallel training instead, the lesson's loop of each backend that trains data parallel "
        "on K workers at each K, the same threads per worker at every K; K > 1 is timed inside the loop, its "
        "launch and setup shown apart; speedup and scaling efficiency t(1) / (K t(K)) (docs/benchmarks.md, "
        "'Data-parallel: L at K = 1, 2'). Exit status 1 if a backend or variant failed to run.",
    )
    add = bench.add_argument
    add("--quick", action="store_true", help="a CI-sized run: fewer epochs and repeats, L at 20,000 rows")
    add("--device", default="cpu", help="cpu (default) or cuda: torch and jax on a GPU (L at 1,000,000 rows)")
    add("--size", type=int_at_least(1), metavar="N", help="rows of the L workload (default 100,000)")
    add("--workloads", help="comma-separated, of T, M, L (default: all; with --workers, L)")
    add("--backends", default=None, help="comma-separated (default: every installed one)")
    add("--variants", default=None, help="comma-separated variants to time (default: every one)")
    add(
        "--threads",
        type=int_at_least(1),
        help="threads in every pool (default: the CPUs this process may use); with --workers, threads per worker "
        "(default: those CPUs over the largest K)",
    )
    add(
        "--workers",
        type=worker_counts,
        metavar="K[,K...]",
        help="time data-parallel training instead: the lesson's loop on K workers at each K (e.g. 1,2), for every "
        "backend that trains data parallel; K = 1 is the backend's own single-process loop; speedup and "
        "efficiency t(1) / (K t(K)) from the medians; not with --variants or --device cuda",
    )
    add("--repeats", type=int_at_least(1), help="timed runs per variant, at least (default 5; --quick 3)")
    add("--epochs", type=int_at_least(0), help="epochs per run for every workload (default: each workload's)")
    add("--json", action="store_true", help="print the whole result as JSON on stdout instead of the table")
    add("--markdown", metavar="FILE", help="also write the results as Markdown to FILE")
    add("--timeout", type=positive_float(), metavar="SECONDS", help="give up on a process after this long")
    add("--no-progress", action="store_true", help="no progress bar on stderr")
    add("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    bench.set_defaults(run=main)
    return bench


def main(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run the benchmark as the command line asks; print the table (or JSON). Exit status 1 if a
    backend or variant failed to run."""
    opts = Options(
        quick=args.quick,
        device=args.device,
        size=args.size,
        workloads=(_names(args.workloads) or ()) if args.workloads is not None else _default_workloads(args.workers),
        backends=_names(args.backends),
        variants=_names(args.variants),
        threads=args.threads,
        repeats=args.repeats,
        epochs=args.epochs,
        timeout=args.timeout,
        progress=not args.no_progress,
        workers=args.workers,
    )
    if not opts.workloads:
        raise UsageError("--workloads: empty list")
    if args.markdown:
        writable_file(args.markdown, "--markdown")
    if opts.variants and opts.workers is None:
        check_variants(opts.variants, _backends(opts))
    stdout = stdout or sys.stdout
    result = run(opts)
    reports = scaling_report if result["schema"] == scaling.SCHEMA else report
    if args.markdown:
        atomic_write(args.markdown, reports.markdown_report(result))
    if args.json:
        json.dump(result, stdout, indent=1)
        stdout.write("\n")
    else:
        stdout.write(reports.text_report(result) + "\n")
    failed = [p for p in result["processes"] if not p.get("ok")] + [r for r in result["runs"] if not r.get("ok")]
    return 1 if failed else 0


def check_variants(names: tuple[str, ...], backends: list[str]) -> None:
    """Each of ``names`` is a variant of one of ``backends`` at least, or a usage error (before any
    work: a variant no backend has would time nothing). The backends are asked in a process of
    their own: the benchmark's parent imports no framework."""
    asked = worker.run(f"{__name__}:backend_variants", {"backends": backends})
    if not asked.ok:
        raise BackendError(f"--variants: asking the backends failed: {asked.error}")
    known = list(dict.fromkeys(v for variants in asked.result.values() for v in variants))
    for name in names:
        if name not in known:
            raise UsageError(f"--variants: unknown variant {name!r}; known: {', '.join(known)}")


def backend_variants(backends: list[str]) -> dict[str, list[str]]:
    """In the child: each backend's training variants."""
    return {name: list(backend_class(name).variants) for name in backends}


def worker_counts(text: str) -> tuple[int, ...]:
    """``--workers 1,2``: worker counts, each an integer >= 1, none twice (argparse's type)."""
    parse = int_at_least(1)
    counts = [parse(t.strip()) for t in text.split(",") if t.strip()]
    if not counts:
        raise argparse.ArgumentTypeError(f"expected worker counts like 1,2, got {text!r}")
    repeated = [k for i, k in enumerate(counts) if k in counts[:i]]
    if repeated:
        raise argparse.ArgumentTypeError(f"{repeated[0]} is given twice")
    return tuple(counts)


def _default_workloads(workers: tuple[int, ...] | None) -> tuple[str, ...]:
    return ("L",) if workers else ("T", "M", "L")


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None
