"""How the docs print numbers, and which tolerance each printed number has."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .base import DIGITS, ORDER
from .run import Rosetta, Row

# A number as the docs print it (in code spans): 0.254148, -1.5e-07, 3, inf, nan
NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf)|nan")


def number(x: float, kind: str) -> str:
    """One number: DIGITS significant digits; integers (and 0) as integers where kind is "exact"."""
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and (kind == "exact" or x == 0):
        return str(int(x))
    return f"{x:.{DIGITS}g}"


def value(v: Any, kind: str) -> str:
    """A computed value: a number, a list of numbers ``[a, b]`` (nested for arrays), a shape ``(3, 4)``."""
    if isinstance(v, tuple):
        return "(" + ", ".join(str(int(i)) for i in v) + ")"
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return number(float(a), kind)
    return "[" + ", ".join(value(x, kind) for x in a) + "]"


def spread(row: Row) -> str | None:
    """The row's largest difference between two backends, printed; None for text."""
    s = row.spread()
    return None if s is None else ("0" if s == 0 else f"{s:.2g}")


def tolerances(rosetta: Rosetta) -> list[float]:
    """The tolerance of each number the docs print, in the order the renderers print them."""
    out = []
    for section in rosetta.sections:
        for row in section.rows:
            for b in ORDER:
                v = row.values[b]
                if not isinstance(v, str):
                    out += [row.tolerance] * len(NUMBER.findall(value(v, row.kind)))
            if spread(row) is not None:
                out.append(2 * row.tolerance)
    return out
