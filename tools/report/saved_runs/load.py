"""Reading many saved runs at once (``compare --runs``, ``--baseline``): one spec, each run once.

The same run (the same ``RunIdentity``) may be in two files: every ``compare --save-runs`` also
saves the float64 NumPy reference, so two saves on one machine both hold it. Two files of one
identity are **the same run** when they hold the same run data, ignoring what records the
occasion only: when the file was saved (``created``), how long the run took (``run.seconds``),
the machine's state then (``environment``: pid, load) and ``role`` (``compared`` wins). Then the
first is used, and one line on stderr says so. Anything else (other costs, parameters, forward
outputs, versions or settings) is two different runs under one identity: ``SavedRunError`` names
both files.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...options import PROG
from ..text import printable
from .format import SavedRun, SavedRunError, read_run
from .identity import RunIdentity

OCCASION = ("created", "environment", "role", "run.seconds")  # what two saves of the same run may differ in


def run_files(paths: Sequence[str], option: str = "--runs") -> list[str]:
    """Each file given, and every ``*.json`` under each folder given (sorted)."""
    found: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            inside = sorted(str(f) for f in Path(p).rglob("*.json") if f.is_file())
            if not inside:
                raise SavedRunError(f"{option}: no saved runs (*.json) in the folder {p!r}")
            found += inside
        elif os.path.isfile(p):
            found.append(p)
        else:
            raise SavedRunError(f"{option}: no such file or folder {p!r}")
    return list({os.path.realpath(f): f for f in reversed(found)}.values())[::-1]  # a file given twice: once


def load_runs(paths: Sequence[str], option: str = "--runs") -> list[SavedRun]:
    """Every saved run under ``paths``, checked: one spec, each run once (see the module's docstring)."""
    runs = [read_run(f) for f in run_files(paths, option)]
    check_one_spec(runs)
    kept: dict[RunIdentity, SavedRun] = {}
    for r in runs:
        first = kept.get(r.identity)
        if first is None:
            kept[r.identity] = r
            continue
        differs = difference(first.data, r.data)
        if differs:
            raise SavedRunError(
                f"{first.path} and {r.path}: two different runs of {r.identity.describe()} (they differ in "
                f"{differs}); give each machine its own --label when saving"
            )
        if r.role == "compared":
            first.role = "compared"
        note(f"{first.path} and {r.path} are the same run ({r.identity.describe()}); using the first")
    return list(kept.values())


def note(text: str) -> None:
    print(f"{PROG}: note: {printable(text)}", file=sys.stderr, flush=True)


def difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The first field (dotted) in which two saved runs' data differ, but for ``OCCASION``; "" if none."""
    a, b = _without_occasion(a), _without_occasion(b)
    return _first_difference(a, b, "")


def _without_occasion(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for dotted in OCCASION:
        *parents, last = dotted.split(".")
        inner = data
        for p in parents:
            inner = inner.get(p, {})
        inner.pop(last, None)
    return data


def _first_difference(a: Any, b: Any, dotted: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in dict.fromkeys([*a, *b]):
            found = _first_difference(a.get(k), b.get(k), f"{dotted}.{k}" if dotted else k)
            if found:
                return found
        return ""
    if type(a) is not type(b) or a != b:  # 1 and 1.0, True and 1: different
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return next((f for x, y in zip(a, b, strict=True) if (f := _first_difference(x, y, dotted))), "")
        return dotted or "(the whole file)"
    return ""


def check_one_spec(runs: Iterable[SavedRun]) -> None:
    first: SavedRun | None = None
    for r in runs:
        if first is None:
            first = r
        elif r.spec_hash != first.spec_hash:
            raise SavedRunError(
                f"runs of different specs: {first.path} ({first.spec.name}, {first.spec_hash[:19]}) and "
                f"{r.path} ({r.spec.name}, {r.spec_hash[:19]}); compare runs of one spec"
            )
        elif r.spec.tolerances != first.spec.tolerances:
            raise SavedRunError(f"{r.path}: its spec's tolerances differ from those of {first.path}")
