"""``softmax-rosetta tolerances SPEC``: how far two correct implementations may differ through rounding alone.

The work is in the library (``softmax_rosetta.tolerances``: Monte Carlo arithmetic on the float64
NumPy reference); this prints it, per dtype: one envelope per forward check (the report's names:
softmax, log_softmax, loss:onehot, loss:nll, loss:fused), the cost's envelope per checkpoint,
and the final parameters'. docs/tolerances.md explains the method and its limits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from .files import writable_file
from .options import UsageError, add_debug, int_at_least

MAX_SAMPLES = 4096  # beyond it the batch of runs needs gigabytes (digits: 4096 x 64 x 64 x 10 floats per step)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tolerances",
        help="predict how far two correct backends may differ through rounding alone (per check, per epoch)",
        description="Run the float64 NumPy reference of the spec SAMPLES times with every floating-point result "
        "randomly perturbed at the dtype's precision (Monte Carlo arithmetic, docs/tolerances.md) and print, per "
        "dtype, the envelope of each quantity the agreement report compares: the softmax outputs and loss levels, "
        "the cost per checkpoint of epochs (each the largest since the previous one), the final parameters. "
        "Deterministic: the same seed gives the same envelope.",
    )
    p.add_argument("spec", help="a bundled spec's name or a path to a .toml file")
    p.add_argument(
        "--dtype",
        action="append",
        default=None,
        metavar="DTYPE",
        help="float32 or float64; repeat for both (default: both)",
    )
    p.add_argument(
        "--samples",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="perturbed runs (default 32, at most 4096)",
    )
    p.add_argument(
        "--seed", type=int_at_least(0), default=None, metavar="S", help="the perturbations' seed (default 0)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--write",
        action="store_true",
        help="also store the envelopes in the spec file as [tolerance.derived.DTYPE] (comments and layout kept)",
    )
    add_debug(p)
    p.set_defaults(run=tolerances_main)


def tolerances_main(args: argparse.Namespace) -> int:
    from softmax_rosetta.spec import DTYPES, read_spec, spec_from_dict
    from softmax_rosetta.tolerances import SAMPLES, SEED, derive

    from .expected import without_derived

    dtypes = args.dtype or list(DTYPES)
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise UsageError(f"--dtype: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    repeated = [d for i, d in enumerate(dtypes) if d in dtypes[:i]]
    if repeated:
        raise UsageError(f"--dtype: {repeated[0]!r} is given twice")
    samples = SAMPLES if args.samples is None else args.samples
    if samples > MAX_SAMPLES:
        raise UsageError(f"--samples: at most {MAX_SAMPLES}, got {samples}")
    seed = SEED if args.seed is None else args.seed
    path, raw = read_spec(args.spec)
    # the spec's stored envelopes play no part, and after an edit may no longer load: they are derived again
    spec = spec_from_dict(without_derived(raw), path=path)
    if args.write:  # before the derivation: the file must be one that can be replaced
        if spec.path == "" or not _is_file(spec.path):
            raise UsageError(f"--write: the spec {args.spec!r} has no file to write into")
        writable_file(spec.path, "tolerances --write")
    results = []
    for dtype in dtypes:
        start = time.perf_counter()
        envelope = derive(spec, dtype, samples=samples, seed=seed)
        results.append((envelope, time.perf_counter() - start))
    if args.write:
        from .tolerances_write import source_for, write_derived

        write_derived(spec.path, {e.dtype: e.table(source_for(args.spec, samples, seed, e.safety)) for e, _ in results})
        print(f"written into {spec.path}: [tolerance.derived.{','.join(dtypes)}]", file=sys.stderr)
    if args.json:
        print(json.dumps({"spec": spec.name, "envelopes": [e.to_dict() for e, _ in results]}, indent=2))
        return 0
    for envelope, seconds in results:
        print(_table(envelope, seconds), end="")
    return 0


def _table(envelope: Any, seconds: float) -> str:
    lines = [
        f"{envelope.spec} {envelope.dtype}: how far two correct implementations may differ "
        f"({envelope.samples} perturbed runs, seed {envelope.seed}, safety factor {envelope.safety:g}, {seconds:.1f} s)"
    ]
    lines += [f"  {check:<12} {value:9.3g}" for check, value in envelope.forward.items()]
    lines.append(f"  {'params':<12} {envelope.params:9.3g}")
    checkpoints = envelope.checkpoints
    lines.append("  costs        epoch <= " + " ".join(f"{e:>8}" for e, _ in checkpoints))
    lines.append("               max    " + " ".join(f"{v:8.2g}" for _, v in checkpoints))
    return "\n".join(lines) + "\n"


def _is_file(path: str) -> bool:
    return os.path.isfile(path)
