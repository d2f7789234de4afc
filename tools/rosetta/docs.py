"""The two files: rendering them, writing them, checking the committed ones."""

from __future__ import annotations

import os
from pathlib import Path

from ..files import atomic_write
from .html import render_html
from .markdown import render_markdown
from .numbers import tolerances
from .run import Rosetta, build
from .stale import compare_text


def render(rosetta: Rosetta) -> dict[str, str]:
    """Both pages' text, by file name (the names in FILES)."""
    return {"rosetta.md": render_markdown(rosetta), "rosetta.html": render_html(rosetta)}


def write(out_dir: str | os.PathLike[str] = "docs", rosetta: Rosetta | None = None) -> list[Path]:
    """Generate both docs into out_dir; returns their paths."""
    rosetta = build() if rosetta is None else rosetta
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render(rosetta).items():
        path = out / name
        atomic_write(path, text)
        paths.append(path)
    return paths


def check(out_dir: str | os.PathLike[str] = "docs", rosetta: Rosetta | None = None) -> list[str]:
    """Why each doc in out_dir is stale ([] when both are current).

    rosetta: a fresh ``build()`` (made here when None). Built with numbers=False, only the code
    and the text are checked.
    """
    rosetta = build() if rosetta is None else rosetta
    allowed = tolerances(rosetta) if rosetta.numbers else None
    problems = []
    for name, fresh in render(rosetta).items():
        path = Path(out_dir) / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        why = compare_text(str(path), path.read_text(encoding="utf-8"), fresh, allowed)
        if why:
            problems.append(why)
    return problems
