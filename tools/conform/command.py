"""``softmax-rosetta conform NAME``: the conformance kit on one registered backend (docs/backends.md).

Exit status 0: every check passes or is declared in the backend's deviations file; 1: an undeclared
failure; 2: a usage error (an unknown backend: one line listing the installed ones; a broken deviations
file: one line naming the plugin and the cause).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..options import PROG, UsageError, add_debug, split_names

QUICK_SPECS = ("seed",)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "conform",
        help="hold one backend to the checks every backend must pass: a pass/fail matrix",
        description="Run the conformance kit on a registered backend (built in or a plugin): the functional "
        "operations against the float64 reference, torch's own samples, training on every bundled spec, each "
        "variant, save and predict, determinism and bad input, in each dtype it supports. Prints the matrix "
        "as Markdown. Exit status 0: everything passes or is declared in the backend's deviations file; 1: "
        "an undeclared failure; 2: a usage error.",
    )
    p.add_argument("backend", metavar="NAME", help="a registered backend (softmax-rosetta backends lists them)")
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    p.add_argument("--specs", default=None, help="comma-separated bundled specs to train (default: every one)")
    p.add_argument("--quick", action="store_true", help="train the seed spec only (seconds, not a minute)")
    p.add_argument("--json", metavar="FILE", help="also write the matrix as JSON to FILE")
    p.add_argument("--md", metavar="FILE", help="also write the Markdown matrix to FILE")
    p.add_argument("--summary", action="store_true", help="print the README backend table's row instead")
    add_debug(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softmax_rosetta.registry import BACKENDS, available_backends, backend_class
    from softmax_rosetta.spec import DTYPES, bundled_specs

    from . import render

    if args.backend not in BACKENDS:
        raise UsageError(f"conform: unknown backend {args.backend!r}; installed: {', '.join(available_backends())}")
    dtypes = split_names(args.dtypes, DTYPES, "dtypes")
    specs = split_names(args.specs, bundled_specs(), "specs") if args.specs else list(bundled_specs())
    if args.quick:
        specs = list(QUICK_SPECS)
    cls = backend_class(args.backend)
    info = BACKENDS[args.backend]
    report = conform(cls, dtypes, specs, distribution=info.distribution)
    text = render.markdown(report)
    for path, content in ((args.md, text), (args.json, render.to_json(report) if args.json else "")):
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
    if args.summary:
        print(render.SUMMARY_HEADER)
        print(render.summary_row(report))
    else:
        sys.stdout.write(text)
    print(f"{PROG} conform: {report.summary()}", file=sys.stderr)
    return 1 if report.failed else 0


def conform(cls: Any, dtypes: list[str], specs: list[str], distribution: str = "") -> Any:
    """Every check on backend class ``cls`` in each of ``dtypes``: a ``render.Report``; its deviations file
    is read (and checked) before anything runs."""
    from . import checks, deviations, render, torch_samples

    where = f"backend plugin {cls.name!r}" + (f" (from {distribution})" if distribution else "")
    from softmax_rosetta.spec import bundled_specs

    planned = checks.plan(cls, specs)
    # every check a full run makes: a file declaring a gap on digits stays valid in a --quick run
    known = [c for _, c in checks.plan(cls, list(dict.fromkeys([*bundled_specs(), *specs])))]
    declared = deviations.load(cls, known, where)
    start = time.perf_counter()
    samples = torch_samples.load()
    rows = []
    for dtype in dtypes:
        reason = cls.no_float64.get("cpu") if dtype == "float64" else None
        if reason:
            rows += [render.Row(g, c, dtype, render.NA, f"no float64 on the CPU: {reason}") for g, c in planned]
            continue
        for o in checks.run_all(cls(dtype=dtype), specs, samples):
            dev = deviations.declared(declared, o.check, dtype)
            status = render.NA if o.passed is None else render.PASS if o.passed else render.FAIL
            if status == render.FAIL and dev is not None:
                status = render.DECLARED
            rows.append(render.Row(o.group, o.check, dtype, status, o.detail, dev.reason if dev else ""))
    path = deviations.path_of(cls)
    return render.Report(
        backend=cls.name,
        display_name=cls.display_name or cls.name,
        distribution=distribution,
        versions=dict(cls.versions()),
        dtypes=list(dtypes),
        specs=list(specs),
        rows=rows,
        seconds=time.perf_counter() - start,
        deviations_file=str(path) if path else "",
    )
