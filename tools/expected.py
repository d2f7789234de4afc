"""A spec's expected cost trajectory: the float64 NumPy reference, written into the spec.

    softmax-rosetta expected iris            # print the [expected] values for the iris spec
    softmax-rosetta expected iris --write    # and write them into the iris spec's file

The NumPy backend in float64 is the reference: it is pure NumPy, the same on every machine
to within a few float64 ulps, and independent of the frameworks it checks. The costs at
epochs 0, every, 2*every, ... (every = the spec's expected.every) go into the spec with the
command that made them, so a regression in any backend shows as a difference from them.
A spec whose expected costs came from elsewhere (the seed's are the lesson's own printout)
is never overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from softmax_rosetta.registry import REFERENCE_BACKEND, get_backend
from softmax_rosetta.spec import Spec, SpecError

from .files import atomic_write

COMMAND = "softmax-rosetta expected"


def reference_costs(spec: Spec, every: int) -> list[float]:
    """The float64 NumPy run's costs at epochs 0, every, 2*every, ... up to the spec's epochs."""
    result = get_backend(REFERENCE_BACKEND, dtype="float64").train(spec)
    return [float(c) for c in result.costs[::every]]


def expected_table(name: str, costs: list[float], every: int) -> str:
    """The lines of the [expected] table, costs written in full (repr: they read back exactly)."""
    rows = [", ".join(repr(c) for c in costs[i : i + 4]) for i in range(0, len(costs), 4)]
    return (
        f"every = {every}\n"
        f'source = "{COMMAND} {name} --write (the NumPy backend in float64, numpy {np.__version__})"\n'
        "costs = [" + ",\n         ".join(rows) + "]\n"
    )


def write_expected(path: str | Path, table: str) -> None:
    """Replace the every/source/costs lines of the file's [expected] table, keeping its comments."""
    text = Path(path).read_text(encoding="utf-8")
    match = re.search(r"^\[expected\][^\n]*\n(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
    if match is None:
        raise SpecError(f"expected: {path} has no [expected] table to write into")
    body = match.group(1)
    if re.search(r"^source\s*=", body, flags=re.M) and COMMAND not in body:
        raise SpecError(f"expected.source: {path}'s expected costs don't come from {COMMAND}; not overwriting them")
    keys = list(re.finditer(r"^(?:every|source)\s*=[^\n]*\n|^costs\s*=\s*\[.*?\][^\n]*\n", body, flags=re.M | re.S))
    if keys:  # the new lines go where the old ones were
        body = body[: keys[0].start()] + table + body[keys[-1].end() :]
    else:
        body = table + "\n" + body
    atomic_write(path, text[: match.start(1)] + body + text[match.end(1) :])
