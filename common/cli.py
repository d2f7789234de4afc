"""The ``softmax-rosetta`` command.

    softmax-rosetta train numpy            # the lesson's printout, from the NumPy backend
    softmax-rosetta train jax --dtype float64 --json
    softmax-rosetta compare                # every installed backend, every pair checked
    softmax-rosetta backends               # what is installed, versions, devices
    softmax-rosetta specs                  # the bundled specs

A user's mistake (an unknown backend, a bad value, a missing framework) is one line on
stderr and exit status 2, never a traceback; ``--debug`` shows the traceback.
Exit status 1 means the numbers disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .backend import BackendError
from .registry import BACKENDS, available_backends, backend_class, get_backend, missing_packages
from .spec import DTYPES, SpecError, bundled_specs, load_spec

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
    train.add_argument("--variant", default="lesson", help="lesson (default); jax also has fused (jit + lax.scan)")
    train.add_argument("--epochs", type=_int_at_least(0), help="number of epochs (default: the spec's)")
    train.add_argument("--lr", type=_positive_float(), help="learning rate (default: the spec's)")
    train.add_argument("--log-every", type=_int_at_least(0), default=100, help="print the cost every N epochs (default 100; 0: never)")
    train.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout instead")
    train.set_defaults(run=_train)

    compare = sub.add_parser("compare", help="train every installed backend and check that they agree")
    compare.add_argument("--backends", default=None, help="comma-separated backends (default: every installed one)")
    compare.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    compare.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    _spec_options(compare)
    compare.set_defaults(run=_compare)

    backends = sub.add_parser("backends", help="list the backends, whether installed, versions and devices")
    backends.set_defaults(run=_backends)

    specs = sub.add_parser("specs", help="list the bundled specs")
    specs.set_defaults(run=_specs)
    for p in (train, compare, backends, specs):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
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
    result = be.train(spec, epochs=args.epochs, lr=args.lr, variant=args.variant,
                      log_every=args.log_every, log=log)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
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
    from .compare import check_forward, check_runs, forward_outputs

    spec = load_spec(args.spec)
    dtypes = _split(args.dtypes, DTYPES, "dtypes")
    if args.backends is None:
        names = available_backends()
        skipped = [n for n in BACKENDS if n not in names]
    else:
        names = _split(args.backends, list(BACKENDS), "backends")
        for name in names:
            backend_class(name)  # a missing framework is a usage error when asked for by name
        skipped = []
    for name in skipped:
        print(f"skipped {name}: needs {', '.join(missing_packages(name))} (pip install 'softmax-rosetta[{BACKENDS[name].extra}]')")

    checks = []
    for dtype in dtypes:
        results, outputs = [], {}
        for name in names:
            be = get_backend(name, device=args.device, dtype=dtype)
            outputs[name] = forward_outputs(be, spec)
            for variant in be.variants:
                print(f"training {name}:{variant} {dtype} on {args.device} ...", flush=True)
                results.append(be.train(spec, variant=variant))
        checks += check_forward(outputs, spec, dtype) + check_runs(results, spec)

    failed = [c for c in checks if not c.passed]
    print()
    for c in failed + [c for c in checks if c.passed]:
        print(c.line())
    verdict = "DISAGREE" if failed else "AGREE"
    print(f"\n{verdict}: {len(checks) - len(failed)} of {len(checks)} checks passed; "
          f"backends {', '.join(names)}; dtypes {', '.join(dtypes)}; spec {spec.name}; device {args.device}"
          + (f"; skipped (not installed): {', '.join(skipped)}" if skipped else ""))
    return 1 if failed else 0


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
    for name in bundled_specs():
        spec = load_spec(name)
        shape = f"{spec.num_samples} x {spec.num_features} -> {spec.num_classes}"
        print(f"{name:<10} {shape:<16} {spec.epochs:>5} epochs  {spec.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
