"""The ``softmax-rosetta`` command.

    softmax-rosetta train numpy            # the lesson's printout, from the NumPy backend
    softmax-rosetta train jax --dtype float64 --json
    softmax-rosetta compare                # every installed backend, every pair checked
    softmax-rosetta backends               # what is installed, versions, devices
    softmax-rosetta specs                  # the bundled specs
    softmax-rosetta rosetta                # docs/rosetta.md and .html: the lesson side by side, from the code

A user's mistake (an unknown backend, a bad value, a missing framework) is one line on
stderr and exit status 2, never a traceback; ``--debug`` shows the traceback.
Exit status 1 means the numbers disagree, or a training run diverged (its cost turned inf or
nan: one line names the run and the epoch).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from softmax_rosetta.backend import BackendError, TrainingDiverged
from softmax_rosetta.registry import BACKENDS, backend_class, get_backend, missing_packages
from softmax_rosetta.spec import DTYPES, SpecError, bundled_specs, load_spec

PROG = "softmax-rosetta"


class UsageError(Exception):
    """A mistake in the command line; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, BackendError, SpecError) as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:  # not a usage mistake: the numbers blew up
        if args.debug:
            raise
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage is in --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="The softmax-classification lesson in PyTorch, JAX and NumPy, checked against each other.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train one backend and print the lesson's cost lines")
    train.add_argument("backend", help=f"one of: {', '.join(BACKENDS)}")
    _spec_options(train)
    train.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda (torch, jax)")
    train.add_argument("--variant", default="lesson",
                       help="lesson (default); fast (full-batch plain SGD, every backend); torch also compiled; jax also fused")
    train.add_argument("--epochs", type=_int_at_least(0), help="number of epochs (default: the spec's)")
    train.add_argument("--lr", type=_positive_float(), help="learning rate (default: the spec's)")
    train.add_argument("--log-every", type=_int_at_least(0), default=None,
                       help="print the cost every N epochs (default: as often as the spec's expected costs, 100 for the seed; 0: never)")
    train.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout instead")
    train.set_defaults(run=_train)

    compare = sub.add_parser(
        "compare", help="run every installed backend, check that they agree, write the agreement report",
        description="Run each backend in its own process on the spec, compare every pair of backends and "
                    "each against the float64 NumPy reference, and write report.md, report.json, junit.xml, "
                    "loss.png and deviation.png to --out. Exit status 0: everything agrees; 1: a check "
                    "failed or a backend failed to run; 2: a usage error.")
    compare.add_argument("--backends", default=None, help="comma-separated backends (default: every installed one)")
    compare.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    compare.add_argument("--device", default="cpu", help="cpu (default) or cuda; NumPy always runs on the CPU")
    _spec_options(compare)
    compare.add_argument("--out", default="reports", help="folder for the report files (default: reports)")
    compare.add_argument("--tolerance-scale", type=_positive_float(), default=1.0, metavar="F",
                         help="multiply every tolerance by F (< 1 tightens: how much headroom is there?)")
    compare.add_argument("--no-plots", action="store_true", help="don't draw loss.png and deviation.png")
    compare.add_argument("--timeout", type=_positive_float(), default=None, metavar="SECONDS",
                         help="give up on a backend process after this long (default: no limit)")
    compare.set_defaults(run=_compare)

    backends = sub.add_parser("backends", help="list the backends, whether installed, versions and devices")
    backends.set_defaults(run=_backends)

    specs = sub.add_parser("specs", help="list the bundled specs")
    specs.set_defaults(run=_specs)
    for p in (train, compare, backends, specs):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")

    rosetta = sub.add_parser(
        "rosetta", help="write docs/rosetta.md and docs/rosetta.html: the lesson in the three backends side by side",
        description="Generate docs/rosetta.md and docs/rosetta.html from the backends' own code (tools/rosetta.py): "
                    "each concept's code in NumPy, PyTorch and JAX, linked to its file and line, a note on what "
                    "differs, and the numbers every backend computes on the seed spec. --check writes nothing "
                    "and exits 1 if either file is stale against the code.")
    rosetta.add_argument("--out", default="docs", help="folder for rosetta.md and rosetta.html (default: docs)")
    rosetta.add_argument("--check", action="store_true", help="exit 1 if the files in --out are stale against the code")
    rosetta.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    rosetta.set_defaults(run=_rosetta)

    expected = sub.add_parser(
        "expected", help="print a spec's expected costs (the float64 NumPy reference); --write puts them in the spec",
        description="Train the NumPy backend in float64 on the spec and print its [expected] table: the costs at "
                    "epochs 0, every, 2*every, ... With --write, replace the spec file's every, source and costs "
                    "lines (its comments are kept). A spec whose expected costs came from elsewhere (the seed's "
                    "are the lesson's printout) is never overwritten.")
    expected.add_argument("spec", help="a bundled spec's name or a path to a .toml file")
    expected.add_argument("--write", action="store_true", help="write the costs into the spec file")
    expected.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    expected.set_defaults(run=_expected)
    _bench_parser(sub)
    return parser


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", default="seed", help=f"a bundled spec ({', '.join(bundled_specs())}) or a path to a TOML file (default: seed)")


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def _positive_float():
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > 0 and value != float("inf")):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
        return value
    return parse


def _train(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    be = get_backend(args.backend, device=args.device, dtype=args.dtype)
    log = None if args.json else (lambda epoch, cost: print(f"epoch: {epoch} cost: {cost}", flush=True))
    log_every = args.log_every
    if log_every is None:
        log_every = spec.expected_every if spec.expected_costs else 100
    result = be.train(spec, epochs=args.epochs, lr=args.lr, variant=args.variant,
                      log_every=log_every, log=log)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(f"train accuracy: {result.accuracy:.4f} ({spec.num_samples} samples)")
        if result.test_accuracy is not None:
            print(f"test accuracy: {result.test_accuracy:.4f} ({spec.num_test} samples)")
    return 0


def _split(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError(f"--{what}: empty list")
    for name in names:
        if name not in known:
            raise UsageError(f"--{what}: unknown {what[:-1]} {name!r}; known: {', '.join(known)}")
    return names


def _compare(args: argparse.Namespace) -> int:
    """The agreement report: see tools/report.py and docs/report.md."""
    import os
    import time

    from .report import BackendStatus, build_report, clear_outputs, now, write_report
    from .report_worker import PERTURB_ENV, parse_perturbation, run_worker

    start, started = time.perf_counter(), now()
    spec = load_spec(args.spec)
    dtypes = _split(args.dtypes, DTYPES, "dtypes")
    for dtype in dtypes:
        spec.tolerance(dtype)  # a spec without tolerances for a dtype is a usage error, before any work
    devices = ("cpu", "cuda")
    if args.device not in devices:
        raise UsageError(f"--device: unknown device {args.device!r}; known: {', '.join(devices)}")
    try:
        perturbation = os.environ.get(PERTURB_ENV, "")
        parse_perturbation(perturbation)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    statuses: list[BackendStatus] = []
    if args.backends is None:
        names = list(BACKENDS)
        requested = False
    else:
        names = list(dict.fromkeys(_split(args.backends, list(BACKENDS), "backends")))
        requested = True
    for name in names:
        missing = missing_packages(name)
        reason = ""
        if missing:
            reason = f"not installed: needs {', '.join(missing)} (pip install 'softmax-rosetta[{BACKENDS[name].extra}]')"
        elif args.device != "cpu":
            cls = backend_class(name)
            if args.device in cls.known_devices() and args.device not in cls.available_devices():
                reason = f"no {args.device} device visible to {name} (available: {', '.join(cls.available_devices())})"
        if reason and requested:
            raise UsageError(f"--backends: {name}: {reason}")
        statuses.append(BackendStatus(name, "skipped" if reason else "pending", reason, requested))
    to_run = [b for b in statuses if b.status == "pending"]
    if not to_run:
        raise UsageError("no backend can run here")
    if len(to_run) < 2 and not spec.expected_costs:
        raise UsageError(f"nothing to compare: one backend ({to_run[0].name}) and spec {spec.name!r} lists no expected costs")

    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out: {out!r} exists and is not a folder")
    os.makedirs(out, exist_ok=True)
    clear_outputs(out)  # only a finished run leaves a report behind

    spec_path = os.path.abspath(spec.path) if spec.path else args.spec
    for b in statuses:
        if b.status == "skipped":
            print(f"[ skip ] {b.name}: {b.reason}", flush=True)
    reference = None
    steps = len(to_run) + (0 if any(b.name == "numpy" for b in to_run) else 1)
    for i, b in enumerate(to_run, 1):
        run_dtypes = dtypes + (["float64"] if b.name == "numpy" and "float64" not in dtypes else [])
        print(f"[{i}/{steps}] {b.name}: {', '.join(run_dtypes)} on {args.device}, in its own process ...",
              end="", flush=True)
        b.worker = run_worker(b.name, spec_path, run_dtypes, args.device, timeout=args.timeout)
        b.status, b.reason = ("ran", "") if b.worker.ok else ("failed", b.worker.error)
        print(f" {'done' if b.worker.ok else 'FAILED'} in {b.worker.seconds:.1f} s"
              + ("" if b.worker.ok else f": {b.worker.error}"), flush=True)
        if b.name == "numpy":
            reference = b.worker
    if reference is None:
        print(f"[{steps}/{steps}] reference: numpy float64 on cpu, in its own process ...", end="", flush=True)
        reference = run_worker("numpy", spec_path, ["float64"], "cpu", timeout=args.timeout)
        print(f" {'done' if reference.ok else 'FAILED'} in {reference.seconds:.1f} s"
              + ("" if reference.ok else f": {reference.error}"), flush=True)

    report = build_report(spec, dtypes, args.device, args.tolerance_scale, statuses, reference,
                          command=_compare_command(args), started=started, perturbation=perturbation)
    report.seconds = time.perf_counter() - start
    write_report(report, out, plots=not args.no_plots)

    print()
    if report.failed:
        print(f"Failing checks ({len(report.failed)}):")
        for c in report.failed:
            print(f"  {c.line()}")
        print()
    for line in report.summary_table():
        print(line)
    if report.plots["skipped"]:
        print(f"\nplots skipped: {report.plots['skipped']}")
    print(f"\nreport: {os.path.join(out, 'report.md')} (also report.json, junit.xml"
          + "".join(f", {f}" for f in report.plots["files"]) + ")")
    print(report.verdict_line(markdown=False))
    return report.exit_status


def _compare_command(args: argparse.Namespace) -> list[str]:
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


def _backends(args: argparse.Namespace) -> int:
    for name, info in BACKENDS.items():
        missing = missing_packages(name)
        if missing:
            print(f"{name:<6} not installed (needs {', '.join(missing)}): pip install 'softmax-rosetta[{info.extra}]'")
            continue
        try:
            cls = backend_class(name)
        except BackendError as exc:
            print(f"{name:<6} broken: {exc}")
            continue
        versions = " ".join(f"{k} {v}" for k, v in cls.versions().items())
        print(f"{name:<6} installed  {versions}  devices: {', '.join(cls.available_devices())}")
    return 0


def _specs(args: argparse.Namespace) -> int:
    """One line per bundled spec: name, training (+ test) rows x features -> classes, epochs, description."""
    for name in bundled_specs():
        spec = load_spec(name)
        rows = f"{spec.num_samples}" + (f"+{spec.num_test}" if spec.num_test else "")
        shape = f"{rows} x {spec.num_features} -> {spec.num_classes}"
        print(f"{name:<10} {shape:<20} {spec.epochs:>5} epochs  {spec.description}")
    print("(rows: training+test samples; docs/specs.md describes every field, to write your own)")
    return 0


def _expected(args: argparse.Namespace) -> int:
    """A spec's expected costs: see tools/expected.py."""
    from .expected import expected_table, reference_costs, write_expected

    spec = load_spec(args.spec)
    table = expected_table(spec.name, reference_costs(spec, spec.expected_every), spec.expected_every)
    print(table, end="")
    if args.write:
        if not spec.path:
            raise UsageError(f"spec: {args.spec!r} has no file to write into")
        write_expected(spec.path, table)
        print(f"written into {spec.path}", file=sys.stderr)
    return 0


def _rosetta(args: argparse.Namespace) -> int:
    """docs/rosetta.md and docs/rosetta.html: see tools/rosetta.py."""
    from .rosetta import FILES, ORDER, RosettaError, build, check, write

    try:
        if not args.check:
            for path in write(args.out):
                print(f"wrote {path}")
            return 0
        missing = [b for b in ORDER if missing_packages(b)]
        if missing:
            print(f"{PROG}: numbers not checked ({', '.join(missing)} not installed): checking the code only",
                  file=sys.stderr)
        problems = check(args.out, build(numbers=not missing))
    except RosettaError as exc:
        raise UsageError(str(exc)) from None
    for problem in problems:
        print(f"{PROG}: {problem}", file=sys.stderr)
    if problems:
        print(f"{PROG}: regenerate them with: {PROG} rosetta --out {args.out}", file=sys.stderr)
        return 1
    print(f"{' and '.join(FILES)} in {args.out} are current")
    return 0


def _bench_parser(sub) -> None:
    bench = sub.add_parser(
        "bench", help="time every backend's training variants against the machine's floor",
        description="Time every backend's training variants (each backend in its own process, threads pinned) on "
                    "three workloads: T, the seed spec (per-step overhead); M, the digits (1797 x 64 -> 10); L, "
                    "synthetic 100,000 x 784 -> 10. M and L are compared to the machine's floor, measured in the "
                    "same run: max(bytes of X / memory read bandwidth, 4 N D C flops / float32 matmul rate) per "
                    "epoch. Prints a table; docs/benchmarks.md has the numbers and how to read them. Exit status 1 "
                    "if a backend or variant failed to run.")
    bench.add_argument("--quick", action="store_true", help="a CI-sized run: fewer epochs and repeats, L at 20,000 rows")
    bench.add_argument("--device", default="cpu", help="cpu (default) or cuda: torch and jax on a GPU (L at 1,000,000 rows)")
    bench.add_argument("--size", type=_int_at_least(1), metavar="N", help="rows of the L workload (default 100,000)")
    bench.add_argument("--workloads", default="T,M,L", help="comma-separated, of T, M, L (default: all)")
    bench.add_argument("--backends", default=None, help="comma-separated (default: every installed one)")
    bench.add_argument("--variants", default=None, help="comma-separated variants to time (default: every one)")
    bench.add_argument("--threads", type=_int_at_least(1), help="threads in every pool (default: the CPUs this process may use)")
    bench.add_argument("--repeats", type=_int_at_least(1), help="timed runs per variant, at least (default 5; --quick 3)")
    bench.add_argument("--epochs", type=_int_at_least(0), help="epochs per run for every workload (default: each workload's)")
    bench.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout instead of the table")
    bench.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown to FILE")
    bench.add_argument("--timeout", type=_positive_float(), metavar="SECONDS", help="give up on a process after this long")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    # for the tests: a tiny floor measurement
    bench.add_argument("--floor-bytes", type=_int_at_least(1 << 20), help=argparse.SUPPRESS)
    bench.add_argument("--matmul-n", type=_int_at_least(16), help=argparse.SUPPRESS)
    bench.add_argument("--min-seconds", type=float, help=argparse.SUPPRESS)
    bench.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    bench.set_defaults(run=_bench)


def _bench(args: argparse.Namespace) -> int:
    """The benchmark: see tools/bench.py and docs/benchmarks.md."""
    from . import bench

    names = lambda text: tuple(t.strip() for t in text.split(",") if t.strip()) if text else None  # noqa: E731
    opts = bench.Options(quick=args.quick, device=args.device, size=args.size, workloads=names(args.workloads) or (),
                         backends=names(args.backends), variants=names(args.variants), threads=args.threads,
                         repeats=args.repeats, epochs=args.epochs, min_seconds=args.min_seconds,
                         floor_bytes=args.floor_bytes, matmul_n=args.matmul_n, timeout=args.timeout,
                         progress=not args.no_progress)
    if not opts.workloads:
        raise UsageError("--workloads: empty list")
    return bench.main(opts, as_json=args.json, markdown=args.markdown)


if __name__ == "__main__":
    sys.exit(main())
