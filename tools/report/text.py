"""Formatting numbers, names and Markdown tables the same way in every part of the report."""

from __future__ import annotations

import json
import math
import re
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


def three_digits(x: float | None) -> str:
    """A measured difference or tolerance: three significant digits."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.3g}"


def two_digits(x: float) -> str:
    """A headroom: two significant digits."""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.2g}"


def short(v: Any) -> str:
    """A setting's value for a table cell: JSON for lists and dicts, at most 80 characters."""
    text = json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v)
    text = text if len(text) <= 80 else text[:77] + "..."
    return md(text)


# What a report never prints as it is: control characters (C0, DEL, C1), the Unicode line and paragraph
# separators, the bidirectional overrides that reorder what a terminal or a browser shows, unpaired
# surrogates (no file can hold them) and the two noncharacters XML forbids.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` on one line, safe on a terminal: each unsafe character written as its escape (``\\x1b``)."""
    return UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


_MARKUP = re.compile(r"[\\`*|<>\[\]~#!$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=[#A-Za-z0-9]+;)")


def md(text: str) -> str:
    """Text from elsewhere (a host label, a version, a setting) as Markdown that shows it as it is: on
    one line (``printable``), no HTML, links, emphasis or code, and no ``|`` to end a table's cell. A ``_``
    inside a word stays as it is (``OMP_NUM_THREADS``): Markdown doesn't read it as emphasis."""
    return _MARKUP.sub(lambda m: "\\" + m.group() if m.group() != "&" else "&amp;", printable(text))


def code(text: str) -> str:
    """``text`` as a Markdown code span, on one line, whatever backticks it holds (in a table, ``|`` as ``\\|``)."""
    text = printable(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A Markdown table, padded so that it also reads well as plain text; ``align``: "l" or "r" per column."""
    widths = [max([len(hd)] + [len(r[i]) for r in rows]) for i, hd in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align, strict=True))
        return "| " + " | ".join(padded) + " |"

    rules = (("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align, strict=True))
    rule = "|" + "|".join(rules) + "|"
    return [line(headers), rule] + [line(r) for r in rows]
