"""``softmax-rosetta train``: the lesson's printout from one backend, and the model kept if asked.

stdout has the lesson's ``epoch: N cost: C`` lines, then the train (and test) accuracy; ``--quiet``
leaves the cost lines alone, ``--json`` prints the whole result instead. What ran (backend,
variant, dtype, device, spec, versions) is one ``#`` line on stderr, printed with the first cost
line, after the run's own checks, so that ``train ... | grep '^epoch'`` and ``> costs.txt`` keep
the lesson's lines alone and a mistake is still one line. ``--save FILE`` writes the trained
model (``softmax_rosetta.models``); its folder is checked before training, so a typo in the path
loses no run.

``--workers K`` trains data parallel (docs/distributed.md). A backend that can't grow its device
count in a running process (JAX on a CPU) says so through ``Backend.process_env``; the run then
goes to a fresh process with that environment (``worker.run``), its cost lines passed on as they come.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from softmax_rosetta import checks
from softmax_rosetta.backend import Backend, BackendError
from softmax_rosetta.models import ModelError, check_destination, save_model
from softmax_rosetta.registry import get_backend
from softmax_rosetta.results import TrainingDiverged, TrainResult
from softmax_rosetta.spec import Spec, load_spec

from . import worker
from .options import PROG, UsageError, add_debug, int_at_least, positive_float, spec_option


def main(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    be = get_backend(args.backend, device=args.device, dtype=args.dtype)
    save = _destination(args.save)
    run_file, host = _run_destination(args)
    if save and run_file and os.path.realpath(save) == os.path.realpath(run_file):
        raise UsageError(f"--save-run: {run_file!r} is --save's file too; give each its own file")
    workers = args.workers
    checks.workers(be, spec, args.variant, workers)  # before any process starts
    banner = (
        [] if args.quiet or args.json else [f"# {train_banner(be, spec, args.variant, args.epochs, args.lr, workers)}"]
    )

    def announce() -> None:
        while banner:
            print(banner.pop(), file=sys.stderr, flush=True)

    def log(epoch: int, cost: float) -> None:
        announce()
        print(f"epoch: {epoch} cost: {cost}", flush=True)

    log_every = args.log_every
    if log_every is None:
        log_every = spec.expected_every if spec.expected_costs else 100
    options = {"epochs": args.epochs, "lr": args.lr, "variant": args.variant, "log_every": log_every}
    env = be.process_env(workers)
    if env:
        result = train_elsewhere(be, args.spec, env, options, workers, None if args.json else log)
        if result.diverged_at is not None:
            raise TrainingDiverged(result)
    else:
        result = be.train(spec, **options, log=None if args.json else log, workers=workers)
    announce()
    if save:
        try:
            save_model(save, result, spec=spec)
        except (ModelError, OSError) as exc:
            raise UsageError(f"--save {exc}") from None
    if run_file:
        from .report.saved_runs.options import save_train_run

        save_train_run(run_file, be, spec, result, host)
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


def train_banner(be: Backend, spec: Spec, variant: str, epochs: int | None, lr: float | None, workers: int = 1) -> str:
    """What runs, in one line: backend, variant, dtype, device, the spec and its set-up, versions."""
    epochs = spec.epochs if epochs is None else epochs
    lr = spec.lr if lr is None else lr
    versions = ", ".join(f"{k} {v}" for k, v in be.versions().items())
    on = f"{be.device}" if workers == 1 else f"{workers} {be.device} workers (data parallel)"
    return (
        f"{PROG} train: backend {be.name}, variant {variant}, {be.dtype} on {on}; "
        f"spec {spec.name} ({spec.num_samples} x {spec.num_features} -> {spec.num_classes} classes), "
        f"{epochs} epochs, lr {lr:g}; {versions}"
    )


def train_in_child(
    backend: str, spec: str, dtype: str, device: str, workers: int, options: dict[str, Any]
) -> dict[str, Any]:
    """In a fresh process (``worker.run``): one training run, its cost lines sent as progress lines."""
    be = get_backend(backend, device=device, dtype=dtype)
    try:
        result = be.train(
            load_spec(spec), **options, workers=workers, log=lambda epoch, cost: worker.progress(f"{epoch} {cost!r}")
        )
    except TrainingDiverged as exc:  # the parent raises it again, with the run up to there
        result = exc.result
    return result.to_dict()


def train_elsewhere(
    be: Backend, spec: str, env: dict[str, str], options: dict[str, Any], workers: int, log: Any = None
) -> TrainResult:
    """``train_in_child`` in a fresh process with ``env`` added to this one's environment.

    A failed process is a ``BackendError`` of one line; a diverged run comes back as its result
    (``diverged_at`` set), for the caller to raise or report.
    """
    import os

    def progress(line: str) -> None:
        epoch, cost = line.split(" ", 1)
        if log is not None:
            log(int(epoch), float(cost))

    job = {"backend": be.name, "spec": spec, "dtype": be.dtype, "device": be.device}
    outcome = worker.run(
        f"{__name__}:train_in_child",
        {**job, "workers": workers, "options": options},
        env={**os.environ, **env},
        on_progress=progress,
    )
    if not outcome.ok:
        if outcome.usage:  # the child's BackendError or SpecError, as one line
            raise BackendError(outcome.error.split(": ", 1)[-1])
        setting = " ".join(f"{k}={v}" for k, v in env.items())
        raise BackendError(f"workers: the {be.name} training process ({setting}) failed: {outcome.error}")
    return TrainResult.from_dict(outcome.result)


def _run_destination(args: argparse.Namespace) -> tuple[str | None, str]:
    """--save-run FILE and --label, checked before training: (the file or None, the host label)."""
    from .files import PathError, writable_file
    from .report.saved_runs.format import SavedRunError, host_label

    if args.save_run is None:
        if args.label is not None:
            raise UsageError("--label: only with --save-run")
        return None, ""
    for name in ("epochs", "lr"):
        if getattr(args, name) is not None:
            raise UsageError(f"--save-run: not with --{name}: a saved run is the spec's own experiment")
    try:
        return writable_file(args.save_run, "--save-run"), host_label(args.label)
    except (PathError, SavedRunError) as exc:
        raise UsageError(str(exc)) from None


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
    train.add_argument(
        "--workers",
        type=int_at_least(1),
        default=1,
        metavar="K",
        help="train data parallel on K workers: each takes its share of every batch's rows (default 1; "
        "torch and jax, docs/distributed.md)",
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
    train.add_argument(
        "--save-run",
        metavar="FILE",
        help="write the run as a saved-run JSON file, for compare --runs on any machine (docs/report.md)",
    )
    train.add_argument("--label", help="the host label --save-run records (default: this machine's hostname)")
    train.set_defaults(run=main)
    add_debug(train)
