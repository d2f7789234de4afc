"""Whether a committed doc is stale: its text compared with a fresh rendering, the numbers within
their tolerances.

Everything but the numbers must match exactly (code, links with line numbers, notes); each
number may differ from the committed one by the spec's tolerance for its kind (``output``,
``cost``, ``param``; ``exact`` for integers and one-hot values) plus one unit in the last
printed digit of each, because float32 results can differ in the last digits between machines
and BLAS builds. The regions (``prose.region``) ``env`` (the framework versions), ``plot`` and
``pygments`` (its stylesheet) are not compared (nor ``why``: docs.py checks it against the machine
it records, why.py), and highlighted code is compared by its text
(another Pygments version may mark it up differently).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from .base import RosettaError
from .numbers import NUMBER

_REGION = re.compile(r"<!-- (numbers|env|plot|pygments|why) -->.*?<!-- /\1 -->", re.S)
# Pygments' markup (and its stylesheet, a region) may change with its version; the code's text may not.
_HIGHLIGHTED = re.compile(r'(<div class="highlight"><pre>)(.*?)(</pre></div>)', re.S)
_SPAN = re.compile(r'`[^`\n]*`|<code class="num">.*?</code>')


def compare_text(name: str, committed: str, fresh: str, tolerances: Sequence[float] | None) -> str | None:
    """Why the committed text is stale against the fresh one, or None when it is current.

    Text outside the regions must be equal; in the numbers regions, the text around the numbers
    must be equal and each number within its tolerance (``tolerances``, one per number the fresh
    text prints) plus one unit in the last printed digit of each. tolerances=None compares the
    text outside the regions only (the code, links and notes).
    """

    def line_at(offset: int) -> int:
        return committed.count("\n", 0, offset) + 1

    def differs(offset: int, a: str, b: str) -> str:
        la, lb = a.split("\n"), b.split("\n")
        i = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
        was = la[i] if i < len(la) else "(end of the part)"
        now = lb[i] if i < len(lb) else "(end of the part)"
        line = line_at(offset + sum(len(x) + 1 for x in la[:i]))
        return (
            f"{name} is stale: line {line} differs from the code now "
            f"(committed: {_clip(was)!r}; generated now: {_clip(now)!r})"
        )

    got: list[tuple[str, int]] = []
    want: list[str] = []
    a, b = _segments(committed), _segments(fresh)
    if [k for k, _, _ in a] != [k for k, _, _ in b]:
        return f"{name} is stale: its sections are not the ones the code gives now"
    for (kind, offset, x), (_, _, y) in zip(a, b, strict=True):
        if kind is None:
            x, y = _code_text(x), _code_text(y)
            if x != y:
                return differs(offset, x, y)
        elif kind == "numbers" and tolerances is not None:
            (sx, nx), (sy, ny) = split_numbers(x), split_numbers(y)
            if sx != sy:
                return differs(offset, sx, sy)
            got += [(n, offset + at) for n, at in nx]
            want += [n for n, _ in ny]
    if tolerances is None:
        return None
    if len(want) != len(tolerances):
        raise RosettaError(f"rosetta: internal error: {len(want)} numbers printed, {len(tolerances)} tolerances")
    for (x, at), y, tol in zip(got, want, tolerances, strict=False):
        if not same_number(x, y, tol):
            return (
                f"{name} is stale: line {line_at(at)} shows {x}, the backends now give {y} "
                f"(allowed: {tol:g} + one unit of the last digit)"
            )
    return None


def split_numbers(region: str) -> tuple[str, list[tuple[str, int]]]:
    """(the region with every printed number replaced by '#', [(number, offset in region)]).

    The numbers are those inside code spans (labels and text cells are outside them and are
    compared as text).
    """
    numbers: list[tuple[str, int]] = []

    def span(m: re.Match[str]) -> str:
        numbers.extend((n.group(), m.start() + n.start()) for n in NUMBER.finditer(m.group()))
        return NUMBER.sub("#", m.group())

    return _SPAN.sub(span, region), numbers


def _segments(text: str) -> list[tuple[str | None, int, str]]:
    """The text cut into (kind, offset, text): kind None for text compared exactly, else the
    region's kind: "numbers" (compared number by number), "env", "plot", "pygments" (not compared)."""
    out: list[tuple[str | None, int, str]] = []
    pos = 0
    for m in _REGION.finditer(text):
        out += [(None, pos, text[pos : m.start()]), (m[1], m.start(), m.group())]
        pos = m.end()
    return out + [(None, pos, text[pos:])]


def _code_text(text: str) -> str:
    """Highlighted code blocks reduced to their text (line numbers included), lines kept."""
    return _HIGHLIGHTED.sub(lambda m: m[1] + html.unescape(re.sub(r"<[^>\n]*>", "", m[2])) + m[3], text)


def _unit(token: str) -> float:
    """One unit in the last printed digit: 0 for an integer, and for "1." (NumPy's way of printing 1.0)."""
    mantissa, _, exponent = token.lstrip("-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    if token in ("nan", "inf", "-inf") or (not decimals and not exponent):
        return 0.0
    return 10.0 ** (int(exponent or 0) - decimals)


def same_number(a: str, b: str, tolerance: float) -> bool:
    """Two printed numbers agree: within ``tolerance`` plus one unit in the last digit of each."""
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= tolerance + _unit(a) + _unit(b)


def _clip(s: str, n: int = 100) -> str:
    return s if len(s) <= n else s[:n] + "..."
