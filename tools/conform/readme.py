"""The README's backend table, made by ``conform``: written between two HTML comment markers
(``--readme FILE``), or checked against what conform measures now (``--readme FILE --check``).

One row per backend: checks passed, declared deviations, failures, the not-applicable checks with the
reason each gives, and the run's time. Every cell comes from the ``render.Report`` of a real run; the check
compares every cell but the time (a time is measured, and varies from run to run).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .render import Report, summary_table

START, END = "<!-- conform -->", "<!-- /conform -->"
UNCHECKED = ("time",)  # measured, so it varies: the check compares every other column
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


class ReadmeError(Exception):
    """The file can't hold the table (missing, unreadable, no markers or broken ones): one line."""


def _split(text: str, path: str) -> tuple[str, str, str]:
    """(before the table, the table, after it): the table is every line between the marker lines."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == START]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not starts or not ends:
        missing = " and ".join(m for m, found in ((START, starts), (END, ends)) if not found)
        raise ReadmeError(f"{path}: no {missing} line: the table goes between a {START} line and a {END} line")
    if len(starts) > 1 or len(ends) > 1:
        raise ReadmeError(f"{path}: {START} and {END} must each be on one line only, once")
    (s,), (e,) = starts, ends
    if e < s:
        raise ReadmeError(f"{path}: {END} (line {e + 1}) comes before {START} (line {s + 1})")
    return "".join(lines[: s + 1]), "".join(lines[s + 1 : e]), "".join(lines[e:])


def read(path: str) -> tuple[str, str, str]:
    """The file at ``path`` split around its table; ReadmeError (one line) where it can't hold one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReadmeError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadmeError(f"{path}: can't be read: {exc}") from None
    return _split(text, path)


def rewrite(text: str, reports: Sequence[Report], path: str = "README") -> str:
    """``text`` with the lines between its markers replaced by the table; everything else as it was."""
    before, _, after = _split(text, path)
    return join(before, reports, after)


def join(before: str, reports: Sequence[Report], after: str) -> str:
    """The text around the table (as ``read`` splits it) with the table of ``reports`` between."""
    newline = "\r\n" if before.endswith("\r\n") else "\n"
    return before + summary_table(list(reports)).replace("\n", newline) + newline + after


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]


def _compared(table_text: str) -> list[list[str]]:
    """The table's rows as cells, the unchecked columns left out (the header says which they are)."""
    rows = [_cells(line) for line in table_text.splitlines() if line.strip()]
    if not rows:
        return []
    keep = [i for i, name in enumerate(rows[0]) if name not in UNCHECKED]
    return [[r[i] if i < len(r) else "" for i in keep] for r in rows]


def stale(committed: str, reports: Sequence[Report], path: str = "README") -> list[str]:
    """One line per difference between the committed table and the one ``reports`` make, times aside;
    [] where they agree."""
    old, new = _compared(committed), _compared(summary_table(list(reports)))
    if not old:
        return [f"{path}: the table between {START} and {END} is empty"]
    if old[0] != new[0]:
        return [f"{path}: the table's columns are {' | '.join(old[0])}; conform writes {' | '.join(new[0])}"]
    columns = new[0]
    old_rows = {r[0]: r for r in old[2:]}
    new_rows = {r[0]: r for r in new[2:]}
    if list(old_rows) != list(new_rows):
        return [
            f"{path}: the table's backends are {', '.join(old_rows) or 'none'}; "
            f"conform measured {', '.join(new_rows) or 'none'}"
        ]
    problems = []
    for backend, measured in new_rows.items():
        for name, was, now in zip(columns, old_rows[backend], measured, strict=True):
            if was != now:
                problems.append(f"{path}: {backend}, {name}: the table says {was!r}, conform measured {now!r}")
    return problems
