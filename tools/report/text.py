"""Formatting numbers, names and Markdown tables the same way in every part of the report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from softmax_rosetta.compare import Check


def and_(names: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names) or "no backend"
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def check_name(c: Check) -> str:
    return f"{c.check} {c.dtype} {c.a} vs {c.b}"


def g(x: float | None) -> str:
    """A measured difference or tolerance: three significant digits."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.3g}"


def h(x: float) -> str:
    """A headroom: two significant digits."""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.2g}"


def short(v: Any) -> str:
    """A setting's value for a table cell: JSON for lists and dicts, at most 80 characters."""
    text = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    text = text.replace("|", "\\|")
    return text if len(text) <= 80 else text[:77] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A Markdown table, padded so that it also reads well as plain text; ``align``: "l" or "r" per column."""
    widths = [max([len(hd)] + [len(r[i]) for r in rows]) for i, hd in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align, strict=True))
        return "| " + " | ".join(padded) + " |"

    rules = (("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align, strict=True))
    rule = "|" + "|".join(rules) + "|"
    return [line(headers), rule] + [line(r) for r in rows]
