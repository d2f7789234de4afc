"""``softmax-rosetta diverge A B``: where two runs of the lesson first part, why, and how far they drift.

Every input is checked before anything runs or is written (a mistake is one line and exit status 2):
the two sources, the spec and dtype (from ``--spec``/``--dtype``, or the trace files' metadata), the
steps, the traces' estimated size against ``--max-size``, the output folders. Then each run is traced
(``softmax_rosetta.trace``), the two are compared (analysis.py) and the result is printed, with a JSON
file and a plot in ``--out``. Exit status: 0 when every checked difference stays within the derived
envelope (bit-identical runs included), 1 when one leaves it, 2 for bad input.

Saving traces is ``--save-trace DIR`` on this command, not a command of its own: a trace is saved
from a comparison that was just shown, so the file that travels to another machine has been looked
at once here, and there is one command to learn; ``diverge torch torch --save-trace DIR`` is the
trace of one backend alone (its second run, the same bits, is a free determinism check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..files import writable_folder
from ..options import UsageError, add_debug, int_at_least, positive_float
from . import tracefile
from .sources import FileSource, RunSource, Trace, every_steps, file_trace, parse_source, parse_steps

DEFAULT_OUT = os.path.join("reports", "diverge")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diverge",
        help="where two runs of the lesson first part: the first differing step and quantity, its cause, the envelope",
        description="Trace two runs of the lesson step by step (logits, softmax, log_softmax, each loss level, the "
        "gradients, the parameters after the step) and print the first step and quantity whose bits differ, with "
        "its cause where one is demonstrated; the first step where a difference leaves the derived rounding "
        "envelope, if ever; and how the difference grows (a table here, a plot and JSON in --out). "
        "Exit status 0: within the envelope (or bit-identical); 1: a difference leaves it; 2: bad input. "
        "docs/diverge.md explains the output.",
    )
    p.add_argument(
        "a",
        metavar="A",
        help="backend[:variant][@device] (numpy, torch, jax; only the lesson variant can be traced; @cuda: "
        "another device) or a trace file (.safetensors) saved with --save-trace, here or on another machine",
    )
    p.add_argument("b", metavar="B", help="the other run, as A")
    p.add_argument(
        "--spec", default=None, help="a bundled spec or a .toml path (default: the trace files' spec, else seed)"
    )
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the trace files', else float32)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--steps",
        default=None,
        metavar="R",
        help="the steps to trace and compare: N (one step) or START:END (END exclusive, as Python's range; "
        "START:END:STRIDE too); default: the whole run, or the steps both trace files hold",
    )
    which.add_argument(
        "--every", type=int_at_least(1), default=None, metavar="N", help="every Nth step, and the last one"
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"the report folder: JSON and plot (default: {DEFAULT_OUT})")
    p.add_argument(
        "--save-trace",
        default=None,
        metavar="DIR",
        help="also write each run traced here as a trace file in DIR, to diverge against later or on another machine",
    )
    p.add_argument(
        "--max-size",
        type=positive_float(),
        default=tracefile.MAX_SIZE_MIB,
        metavar="MIB",
        help=f"refuse, before running, a run's trace estimated over this many MiB (default {tracefile.MAX_SIZE_MIB})",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON (what --out's .json holds)")
    add_debug(p)
    p.set_defaults(run=diverge_main)


def diverge_main(args: argparse.Namespace) -> int:
    from softmax_rosetta.spec import DTYPES
    from softmax_rosetta.trace import step_count

    from . import sources

    if args.dtype is not None and args.dtype not in DTYPES:
        raise UsageError(f"--dtype: unknown dtype {args.dtype!r}; known: {', '.join(DTYPES)}")
    parsed = [parse_source(args.a, "A"), parse_source(args.b, "B")]
    files = {i: tracefile.load_trace(s.path) for i, s in enumerate(parsed) if isinstance(s, FileSource)}
    loaded = list(files.values())
    spec = sources.resolve_spec(args.spec, loaded)
    dtype = sources.resolve_dtype(args.dtype, loaded)
    total = step_count(spec)
    asked = None
    if args.steps is not None:
        asked = parse_steps(args.steps, total)
    elif args.every is not None:
        asked = every_steps(args.every, total)
    steps = sources.resolve_steps(asked, total, loaded)
    runs = [s for s in parsed if isinstance(s, RunSource)]
    if runs:
        tracefile.check_size(tracefile.estimate_size(spec, dtype, steps), args.max_size, "each run's trace")
    save_dir = writable_folder(args.save_trace, "--save-trace") if args.save_trace and runs else None
    out = writable_folder(args.out, "--out")

    from .analysis import diverge, envelope_for
    from .render import header, text, write_report

    envelope = envelope_for(spec, dtype)
    traces: list[Trace] = []
    saved = []
    for i, source in enumerate(parsed):
        if isinstance(source, FileSource):
            traces.append(file_trace(files[i], steps))
            continue
        run, meta = sources.run_trace(source, spec, dtype, steps)
        traces.append(run)
        if save_dir is not None:
            name = f"{spec.name}-{source.backend}-{source.variant}-{source.device}-{dtype}"
            path = os.path.join(save_dir, f"{name}{'-B' if i == 1 and parsed[0] == source else ''}.safetensors")
            tracefile.save_trace(path, run.steps, meta)
            saved.append(path)
    if traces[0].label == traces[1].label:  # numpy against numpy: a determinism check, each side named
        traces[0].label, traces[1].label = f"{traces[0].label} [A]", f"{traces[1].label} [B]"
    result = diverge(traces[0], traces[1], spec, dtype, envelope)
    data = result.to_dict()
    data["origins"] = {"a": traces[0].origin, "b": traces[1].origin}
    data["machines"] = {"a": _where(traces[0]), "b": _where(traces[1])}
    data["saved_traces"] = saved
    written, skipped = write_report(result, out, data, plot=not result.identical)
    data["report"] = {"files": written, "plot_skipped": skipped}
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        print()
    else:
        sys.stdout.write(text(result, header(result, (traces[0].origin, traces[1].origin))))
        print(f"report: {', '.join(written)}" + (f" (plot skipped: {skipped})" if skipped else ""))
        for path in saved:
            print(f"trace saved: {path}")
    return 1 if result.leaves is not None else 0


def _where(run: Trace) -> dict[str, Any]:
    """Where a trace was made: its machine, platform, versions and the backend's settings."""
    meta = run.metadata
    out: dict[str, Any] = {k: meta.get(k, "") for k in ("machine", "platform", "device")}
    for key in ("versions", "settings"):
        try:
            out[key] = json.loads(meta.get(key, "{}"))
        except json.JSONDecodeError:  # a file's field, shown as it is
            out[key] = meta[key]
    return out
