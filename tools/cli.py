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
from collections.abc import Sequence

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
    parser = _Parser(
        prog=PROG,
        description="The softmax-classification lesson in PyTorch, JAX and NumPy, checked against each other.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train one backend and print the lesson's cost lines")
    train.add_argument("backend", help=f"one of: {', '.join(BACKENDS)}")
    _spec_options(train)
    train.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda (torch, jax)")
    train.add_argument(
        "--variant",
        default="lesson",
        help="lesson (default); fast (full-batch plain SGD, every backend); torch also compiled; jax also fused",
    )
    train.add_argument("--epochs", type=_int_at_least(0), help="number of epochs (default: the spec's)")
    train.add_argument("--lr", type=_positive_float(), help="learning rate (default: the spec's)")
    train.add_argument(
        "--log-every",
        type=_int_at_least(0),
        default=None,
        help="print the cost every N epochs "
        "(default: as often as the spec's expected costs, 100 for the seed; 0: never)",
    )
    train.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout instead")
    train.set_defaults(run=_train)

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
    _spec_options(compare)
    compare.add_argument("--out", default="reports", help="folder for the report files (default: reports)")
    compare.add_argument(
        "--tolerance-scale",
        type=_positive_float(),
        default=1.0,
        metavar="F",
        help="multiply every tolerance by F (< 1 tightens: how much headroom is there?)",
    )
    compare.add_argument("--no-plots", action="store_true", help="don't draw loss.png and deviation.png")
    compare.add_argument(
        "--timeout",
        type=_positive_float(),
        default=None,
        metavar="SECONDS",
        help="give up on a backend process after this long (default: no limit)",
    )
    compare.set_defaults(run=_compare)

    backends = sub.add_parser("backends", help="list the backends, whether installed, versions and devices")
    backends.set_defaults(run=_backends)

    specs = sub.add_parser("specs", help="list the bundled specs")
    specs.set_defaults(run=_specs)
    for p in (train, compare, backends, specs):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")

    rosetta = sub.add_parser(
        "rosetta",
        help="write docs/rosetta.md and docs/rosetta.html: the lesson in the three backends side by side",
        description="Generate docs/rosetta.md and docs/rosetta.html from the backends' own code, as the concept "
        "table in tools/rosetta/concepts.py names it: each concept's code in NumPy, PyTorch and JAX, "
        "linked to its file and line, a note on what differs, and the numbers every backend computes on "
        "the seed spec. --check writes nothing and exits 1 if either file is stale against the code.",
    )
    rosetta.add_argument("--out", default="docs", help="folder for rosetta.md and rosetta.html (default: docs)")
    rosetta.add_argument("--check", action="store_true", help="exit 1 if the files in --out are stale against the code")
    rosetta.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    rosetta.set_defaults(run=_rosetta)

    expected = sub.add_parser(
        "expected",
        help="print a spec's expected costs (the float64 NumPy reference); --write puts them in the spec",
        description="Train the NumPy backend in float64 on the spec and print its [expected] table: the costs at "
        "epochs 0, every, 2*every, ... With --write, replace the spec file's every, source and costs "
        "lines (its comments are kept). A spec whose expected costs came from elsewhere (the seed's "
        "are the lesson's printout) is never overwritten.",
    )
    expected.add_argument("spec", help="a bundled spec's name or a path to a .toml file")
    expected.add_argument("--write", action="store_true", help="write the costs into the spec file")
    expected.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    expected.set_defaults(run=_expected)
    from .bench.command import add_parser as add_bench_parser  # here: it uses this module's argument types

    add_bench_parser(sub)
    return parser


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spec",
        default="seed",
        help=f"a bundled spec ({', '.join(bundled_specs())}) or a path to a TOML file (default: seed)",
    )


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
    result = be.train(spec, epochs=args.epochs, lr=args.lr, variant=args.variant, log_every=log_every, log=log)
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
    """The agreement report: see tools/report/ and docs/report.md."""
    from .report import CompareError, CompareOptions, compare

    dtypes = _split(args.dtypes, DTYPES, "dtypes")
    backends = None if args.backends is None else _split(args.backends, list(BACKENDS), "backends")
    options = CompareOptions(
        spec=args.spec,
        backends=backends,
        dtypes=dtypes,
        device=args.device,
        out=args.out,
        tolerance_scale=args.tolerance_scale,
        plots=not args.no_plots,
        timeout=args.timeout,
        command=_compare_command(args),
    )
    try:
        return compare(options)
    except CompareError as exc:
        raise UsageError(str(exc)) from None


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
    """docs/rosetta.md and docs/rosetta.html: see tools/rosetta/ (its table: concepts.py)."""
    from .rosetta import FILES, ORDER, RosettaError, build, check, write

    try:
        if not args.check:
            for path in write(args.out):
                print(f"wrote {path}")
            return 0
        missing = [b for b in ORDER if missing_packages(b)]
        if missing:
            print(
                f"{PROG}: numbers not checked ({', '.join(missing)} not installed): checking the code only",
                file=sys.stderr,
            )
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


if __name__ == "__main__":
    sys.exit(main())
