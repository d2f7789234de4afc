"""``softmax-rosetta conform NAME``: the conformance kit on a registered backend (docs/backends.md), or on
several (``conform numpy torch``, ``conform --all``); ``--readme FILE`` writes the README's backend table
from the runs, ``--readme FILE --check`` checks it (tools/conform/readme.py).

Exit status 0: every check passes or is declared in the backend's deviations file (and, with --check, the
table is current); 1: an undeclared failure, or a stale table; 2: a usage error (an unknown backend: one line
listing the installed ones; one not installed: one line naming its extra; a broken deviations file: one line
naming the plugin and the cause; a --readme file without the table's markers).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..options import PROG, UsageError, add_debug, split_names
from .readme import END, START

QUICK_SPECS = ("seed",)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "conform",
        help="hold one backend to the checks every backend must pass: a pass/fail matrix",
        description="Run the conformance kit on a registered backend (built in or a plugin): the functional "
        "operations against the float64 reference, torch's own samples, training on every bundled spec, each "
        "variant, save and predict, determinism and bad input, in each dtype it supports. Prints the matrix "
        "as Markdown. Several backends (or --all) with --readme FILE: the README's backend table, a row per "
        "backend, written between FILE's <!-- conform --> lines, or with --check compared to FILE's (the "
        "README's: softmax-rosetta conform --all --readme README.md --check). Exit status 0: everything passes "
        "or is declared in the backend's deviations file (and the table is current); 1: an undeclared failure "
        "(or a stale table); 2: a usage error, a backend not installed, a FILE without the table's markers.",
    )
    p.add_argument(
        "backends",
        metavar="NAME",
        nargs="*",
        help="a registered backend, or several (softmax-rosetta backends lists them)",
    )
    p.add_argument("--all", action="store_true", help="every registered backend, in the listing's order")
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes (default float32,float64)")
    p.add_argument("--specs", default=None, help="comma-separated bundled specs to train (default: every one)")
    p.add_argument("--quick", action="store_true", help="train the seed spec only (seconds, not a minute)")
    p.add_argument("--json", metavar="FILE", help="also write the matrix as JSON to FILE")
    p.add_argument("--md", metavar="FILE", help="also write the Markdown matrix to FILE")
    p.add_argument("--summary", action="store_true", help="print the README backend table's rows instead")
    p.add_argument(
        "--readme",
        metavar="FILE",
        help=f"write the README's backend table (a row per backend) into FILE, between its {START} and {END} "
        "lines; the rest of FILE is kept as it is",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="with --readme: write nothing, exit 1 if FILE's table differs from what conform measures now "
        "(every column but the time, which varies from run to run)",
    )
    add_debug(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softmax_rosetta.atomic import atomic_write
    from softmax_rosetta.registry import backend_class
    from softmax_rosetta.spec import DTYPES, bundled_specs

    from . import readme, render

    names = _backends(args)
    dtypes = split_names(args.dtypes, DTYPES, "dtypes")
    specs = split_names(args.specs, bundled_specs(), "specs") if args.specs else list(bundled_specs())
    if args.quick:
        specs = list(QUICK_SPECS)
    committed = None
    if args.readme:  # before a run of minutes: a file that can't hold the table is said at once
        try:
            committed = readme.read(args.readme)
        except readme.ReadmeError as exc:
            raise UsageError(f"conform: --readme {exc}") from None
    reports = []
    for name in names:
        report = conform(backend_class(name), dtypes, specs, distribution=_distribution(name))
        reports.append(report)
        print(f"{PROG} conform: {report.summary()}", file=sys.stderr)
        if not (args.summary or args.readme):
            sys.stdout.write(render.markdown(report))
    if len(reports) == 1:
        for path, content in ((args.md, render.markdown), (args.json, render.to_json)):
            if path:
                atomic_write(path, content(reports[0]))
    if args.summary or args.readme:
        print(render.summary_table(reports))
    failed = any(r.failed for r in reports)
    if committed is not None and args.check:
        problems = readme.stale(committed[1], reports, args.readme)
        for problem in problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        if problems:
            print(f"{PROG}: regenerate it with: {_again(args, names)}", file=sys.stderr)
            return 1
        print(f"{PROG} conform: the table in {args.readme} is current (times aside)", file=sys.stderr)
    elif committed is not None:
        before, _, after = committed
        atomic_write(args.readme, readme.join(before, reports, after))
        print(f"{PROG} conform: wrote the table of {len(reports)} backends to {args.readme}", file=sys.stderr)
    return 1 if failed else 0


def _backends(args: argparse.Namespace) -> list[str]:
    """The backends named (or --all), each registered and installed: else one line, before anything runs."""
    from softmax_rosetta.registry import BACKENDS, available_backends, missing_packages

    if args.all and args.backends:
        raise UsageError(f"conform: --all or backend names ({' '.join(args.backends)}), not both")
    if not args.all and not args.backends:
        raise UsageError(f"conform: name a backend ({', '.join(available_backends())} are installed) or give --all")
    unknown = [n for n in args.backends if n not in BACKENDS]
    if unknown:
        raise UsageError(f"conform: unknown backend {unknown[0]!r}; installed: {', '.join(available_backends())}")
    names = list(BACKENDS) if args.all else split_names(",".join(args.backends), list(BACKENDS), "backends")
    if args.check and not args.readme:  # the usage errors first: they hold whatever is installed
        raise UsageError("conform: --check checks the table in a --readme FILE; give one")
    for option in ("md", "json"):
        if getattr(args, option) and len(names) > 1:
            raise UsageError(f"conform: --{option} writes one backend's matrix; {len(names)} backends are named")
    missing = [n for n in names if missing_packages(n)]
    if missing:
        why = "; ".join(f"{n} needs {', '.join(missing_packages(n))}: {BACKENDS[n].install}" for n in missing)
        whole = " (--all: the table would leave them out)" if args.all else ""
        raise UsageError(f"conform: not installed{whole}: {why}")
    return names


def _distribution(name: str) -> str:
    from softmax_rosetta.registry import BACKENDS

    return BACKENDS[name].distribution


def _again(args: argparse.Namespace, names: list[str]) -> str:
    """The command that rewrites the table as this run measured it."""
    words = [PROG, "conform", *(["--all"] if args.all else names)]
    if args.quick:
        words.append("--quick")
    elif args.specs:
        words += ["--specs", args.specs]
    if args.dtypes != "float32,float64":
        words += ["--dtypes", args.dtypes]
    return " ".join([*words, "--readme", args.readme])


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
