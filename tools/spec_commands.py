"""``softmax-rosetta backends``, ``specs`` and ``expected``: what is installed, the bundled specs, and
a spec's expected costs (tools/expected.py, tools/spec_copy.py do the work)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .options import PROG, add_debug


def add_parsers(sub: Any) -> None:
    backends = sub.add_parser("backends", help="list the backends, whether installed, versions and devices")
    backends.set_defaults(run=backends_main)
    specs = sub.add_parser(
        "specs",
        help="list the bundled specs; --copy starts a spec of your own from one",
        description="List the bundled specs. With --copy SPEC FILE, start a spec of your own: copy SPEC "
        "(a bundled name or a path) to FILE (a new .toml file: an existing one is never overwritten), named "
        "after FILE's stem, with the parts that no longer hold (its expected costs, its tolerances' notes) "
        "marked TO REDO and its derived tolerances removed: after your edit, softmax-rosetta expected FILE --write "
        "computes the copy's costs and derives its tolerances. docs/specs.md, 'Writing your own', walks through it.",
    )
    specs.add_argument("--copy", nargs=2, metavar=("SPEC", "FILE"), help="copy SPEC to the new file FILE")
    specs.set_defaults(run=specs_main)
    expected = sub.add_parser(
        "expected",
        help="print a spec's expected costs (the float64 NumPy reference); --write puts them in the spec",
        description="Train the NumPy backend in float64 on the spec and print its [expected] table: the costs at "
        "epochs 0, every, 2*every, ... (every: the spec's expected.every, else a tenth of its epochs). With "
        "--write, set the spec file's every, source and costs (its comments, layout, line endings and mode are "
        "kept, and a symbolic link is written through; old costs "
        "that no longer fit the epochs are simply replaced), and derive its tolerances for float32 and float64 "
        "into [tolerance.derived.DTYPE] (as softmax-rosetta tolerances SPEC --write does), in one replace of the "
        "file. A spec whose expected costs came from elsewhere (the seed's are the lesson's printout) is never "
        "overwritten.",
    )
    expected.add_argument("spec", help="a bundled spec's name or a path to a .toml file")
    expected.add_argument(
        "--write", action="store_true", help="write the costs, and the derived tolerances, into the spec file"
    )
    expected.add_argument(
        "--no-derive",
        action="store_true",
        help="with --write: write the costs alone, leaving [tolerance.derived.*] as they are (for a spec checked "
        'against its hand-set tolerances; one that says [tolerance] use = "hand-set" is never derived)',
    )
    add_debug(expected)
    expected.set_defaults(run=expected_main)
    for p in (backends, specs):
        add_debug(p)


def backends_main(args: argparse.Namespace) -> int:
    """One line per backend the installed distributions declare (entry-point group softmax_rosetta.backends),
    then one per broken plugin."""
    from softmax_rosetta.checks import BackendError
    from softmax_rosetta.registry import BACKENDS, BUILT_IN, PROBLEMS, backend_class, missing_packages

    for name, info in BACKENDS.items():
        where = "" if info.distribution == BUILT_IN else f"  (from {info.distribution})"
        missing = missing_packages(name)
        if missing:
            print(f"{name:<6} not installed (needs {', '.join(missing)}): {info.install}{where}")
            continue
        try:
            cls = backend_class(name)
            devices = cls.available_devices()
        except BackendError as exc:
            print(f"{name:<6} broken: {exc}")
            continue
        versions = " ".join(f"{k} {v}" for k, v in cls.versions().items())
        print(f"{name:<6} installed  {versions}  devices: {', '.join(devices)}{where}")
    for problem in PROBLEMS:
        print(problem)
    return 0


def specs_main(args: argparse.Namespace) -> int:
    """One line per bundled spec: name, training (+ test) rows x features -> classes, epochs, description."""
    from softmax_rosetta.spec import bundled_specs, load_spec

    if args.copy:
        return copy_spec_main(*args.copy)
    for name in bundled_specs():
        spec = load_spec(name)
        rows = f"{spec.num_samples}" + (f"+{spec.num_test}" if spec.num_test else "")
        shape = f"{rows} x {spec.num_features} -> {spec.num_classes}"
        print(f"{name:<10} {shape:<20} {spec.epochs:>5} epochs  {spec.description}")
    print("(rows: training+test samples; docs/specs.md describes every field, to write your own)")
    return 0


def copy_spec_main(source: str, file: str) -> int:
    """specs --copy: see tools/spec_copy.py."""
    from shlex import quote

    from .spec_copy import copy_spec

    name = copy_spec(source, file)
    print(f"wrote {file}: a copy of {source!r}, named {name!r}; its expected costs and tolerances are TO REDO")
    print(
        f"next: edit it, then {PROG} expected {quote(file)} --write (the float64 reference's costs, and the "
        f"tolerances derived for your spec), then {PROG} compare --spec {quote(file)}"
    )
    return 0


def expected_main(args: argparse.Namespace) -> int:
    """A spec's expected costs, and with --write its derived tolerances: see tools/expected.py."""
    from .expected import (
        check_writable,
        every_for,
        expected_table,
        load_for_writing,
        rederives,
        reference_costs,
        source_for,
        write_expected,
    )
    from .files import writable_file
    from .options import UsageError

    if args.no_derive and not args.write:
        raise UsageError("--no-derive: only with --write (without it nothing is written)")
    spec, raw = load_for_writing(args.spec, derived=not args.no_derive)
    derive = args.write and rederives(raw, args.no_derive)
    if args.write:  # before the training run: the costs may be written, and the file can be replaced
        check_writable(spec.path, raw)
        writable_file(spec.path, "expected --write")
    every = every_for(spec, raw)
    costs, source = reference_costs(spec, every), source_for(args.spec)
    tables = {}
    if derive:  # before printing: a spec whose reference diverges gets derive's one line alone
        from dataclasses import replace

        from .tolerances_write import derived_for

        # checkpointed as the spec will be, with these costs (tolerances SPEC --write then writes the same)
        tables = derived_for(replace(spec, expected_every=every, expected_costs=tuple(costs)), args.spec)
    print(expected_table(every, source, costs), end="")
    if args.write:
        write_expected(spec.path, every, source, costs, tables)
        print(_written(spec.path, args.spec, every, len(costs), tables, raw, args.no_derive), file=sys.stderr)
    return 0


def _written(path: str, given: str, every: int, count: int, tables: dict[str, Any], raw: Any, no_derive: bool) -> str:
    """What ``expected --write`` wrote, in one line: the costs, and the derived tables or why not."""
    from shlex import quote

    epochs = "every epoch" if every == 1 else f"every {every} epochs"
    line = f"written into {path}: [expected] ({count} costs, {epochs})"
    if tables:
        first = next(iter(tables.values()))
        names = " and ".join(f"[tolerance.derived.{d}]" for d in tables)
        return (
            f"{line} and {names} ({first['samples']} perturbed runs, seed {first['seed']}; "
            f"{PROG} tolerances {quote(given)} prints them)"
        )
    why = "--no-derive" if no_derive else '[tolerance] use = "hand-set"'
    old = raw.get("tolerance", {}).get("derived") if isinstance(raw.get("tolerance"), dict) else None
    kept = (
        f"; its [tolerance.derived.*] are left as they were (after a change to the spec, "
        f"{PROG} tolerances {quote(given)} --write derives them again)"
        if old
        else ""
    )
    return f"{line}; no tolerances derived ({why}){kept}"
