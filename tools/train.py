"""``softmax-rosetta train``: the lesson's printout from one backend, and the model kept if asked.

stdout has the lesson's ``epoch: N cost: C`` lines, then the train (and test) accuracy; ``--quiet``
leaves the cost lines alone, ``--json`` prints the whole result instead. What ran (backend,
variant, dtype, device, spec, versions) is one ``#`` line on stderr, printed with the first cost
line, after the run's own checks, so that ``train ... | grep '^epoch'`` and ``> costs.txt`` keep
the lesson's lines alone and a mistake is still one line. ``--save FILE`` writes the trained
model (``softmax_rosetta.models``); its folder is checked before training, so a typo in the path
loses no run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from softmax_rosetta.backend import Backend
from softmax_rosetta.models import ModelError, check_destination, save_model
from softmax_rosetta.registry import get_backend
from softmax_rosetta.spec import Spec, load_spec

from .options import PROG, UsageError, add_debug, int_at_least, positive_float, spec_option


def main(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    be = get_backend(args.backend, device=args.device, dtype=args.dtype)
    save = _destination(args.save)
    banner = [] if args.quiet or args.json else [f"# {train_banner(be, spec, args.variant, args.epochs, args.lr)}"]

    def announce() -> None:
        while banner:
            print(banner.pop(), file=sys.stderr, flush=True)

    def log(epoch: int, cost: float) -> None:
        announce()
        print(f"epoch: {epoch} cost: {cost}", flush=True)

    log_every = args.log_every
    if log_every is None:
        log_every = spec.expected_every if spec.expected_costs else 100
    result = be.train(
        spec, epochs=args.epochs, lr=args.lr, variant=args.variant, log_every=log_every, log=None if args.json else log
    )
    announce()
    if save:
        try:
            save_model(save, result, spec=spec)
        except (ModelError, OSError) as exc:
            raise UsageError(f"--save {exc}") from None
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    elif not args.quiet:
        print(f"train accuracy: {result.accuracy:.4f} ({spec.num_samples} samples)")
        if result.test_accuracy is not None:
            print(f"test accuracy: {result.test_accuracy:.4f} ({spec.num_test} samples)")
    if save and not args.quiet:
        print(f"# saved the model to {save}", file=sys.stderr)
    return 0


def train_banner(be: Backend, spec: Spec, variant: str, epochs: int | None, lr: float | None) -> str:
    """What runs, in one line: backend, variant, dtype, device, the spec and its set-up, versions."""
    epochs = spec.epochs if epochs is None else epochs
    lr = spec.lr if lr is None else lr
    versions = ", ".join(f"{k} {v}" for k, v in be.versions().items())
    return (
        f"{PROG} train: backend {be.name}, variant {variant}, {be.dtype} on {be.device}; "
        f"spec {spec.name} ({spec.num_samples} x {spec.num_features} -> {spec.num_classes} classes), "
        f"{epochs} epochs, lr {lr:g}; {versions}"
    )


def _destination(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return check_destination(path)
    except ModelError as exc:
        raise UsageError(f"--save {exc}") from None


def add_parser(sub: Any) -> None:
    from softmax_rosetta.registry import BACKENDS

    train = sub.add_parser("train", help="train one backend and print the lesson's cost lines")
    train.add_argument("backend", help=f"one of: {', '.join(BACKENDS)}")
    spec_option(train)
    train.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda (torch, jax)")
    train.add_argument(
        "--variant",
        default="lesson",
        help="lesson (default); fast (full-batch plain SGD, every backend); torch also compiled; jax also fused",
    )
    train.add_argument("--epochs", type=int_at_least(0), help="number of epochs (default: the spec's)")
    train.add_argument("--lr", type=positive_float(), help="learning rate (default: the spec's)")
    train.add_argument(
        "--log-every",
        type=int_at_least(0),
        default=None,
        help="print the cost every N epochs "
        "(default: as often as the spec's expected costs, 100 for the seed; 0: never)",
    )
    quiet_or_json = train.add_mutually_exclusive_group()
    quiet_or_json.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout instead")
    quiet_or_json.add_argument(
        "--quiet", action="store_true", help="print the cost lines alone (no '#' line on stderr, no accuracy)"
    )
    train.add_argument(
        "--save",
        metavar="FILE",
        help="write the trained weight, bias and what made them to FILE (safetensors; an existing file is replaced)",
    )
    train.set_defaults(run=main)
    add_debug(train)
