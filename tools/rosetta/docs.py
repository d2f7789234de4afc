"""The docs (rosetta.md, rosetta.html, lesson.md and their Korean ones in ko/): rendering them, writing them,
checking the committed ones."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..files import atomic_write, writable_folder
from .html import render_html
from .lesson_markdown import render_lesson
from .lesson_text import PAGES as LESSON_PAGES
from .markdown import render_markdown
from .numbers import tolerances
from .page_text import PAGES as HTML_PAGES
from .run import Rosetta, build
from .stale import compare_text
from .why import TITLE, recorded_machine


def render(rosetta: Rosetta) -> dict[str, str]:
    """Every page's text, by file name (the names in FILES)."""
    return {name: text for name, (text, _) in _pages(rosetta).items()}


def _pages(rosetta: Rosetta) -> dict[str, tuple[str, list[float] | None]]:
    """Every page's text and the tolerances of the numbers it prints (None: numbers=False)."""
    allowed = tolerances(rosetta) if rosetta.numbers else None
    pages: dict[str, tuple[str, list[float] | None]] = {
        "rosetta.md": (render_markdown(rosetta), allowed),
    }
    for lang, name in HTML_PAGES.items():
        pages[name] = (render_html(rosetta, lang), allowed)
    for lang, name in LESSON_PAGES.items():
        lesson, lesson_allowed = render_lesson(rosetta, lang)
        pages[name] = (lesson, lesson_allowed if rosetta.numbers else None)
    return pages


def write(
    out_dir: str | os.PathLike[str] = "docs", rosetta: Rosetta | None = None, repo: str | None = None
) -> list[Path]:
    """Generate the docs into out_dir (checked first: ``PathError`` names --out); returns their paths.
    repo: build()'s, when rosetta is None (the blocks' links go into that repository)."""
    out = Path(writable_folder(out_dir, "--out"))
    rosetta = build(repo=repo) if rosetta is None else rosetta
    paths = []
    for name, text in render(rosetta).items():
        path = out / name
        path.parent.mkdir(exist_ok=True)  # ko/
        atomic_write(path, text)
        paths.append(path)
    return paths


def check(
    out_dir: str | os.PathLike[str] = "docs", rosetta: Rosetta | None = None, notes: list[str] | None = None
) -> list[str]:
    """Why each doc in out_dir is stale ([] when all are current).

    rosetta: a fresh ``build()`` (made here when None). Built with numbers=False, only the code
    and the text are checked. notes: a list that gets what was not checked and why (the "Why the
    last digits differ" numbers, made on another machine: why.py).
    """
    rosetta = build() if rosetta is None else rosetta
    problems = []
    for name, (fresh, allowed) in _pages(rosetta).items():
        path = Path(out_dir) / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        committed = path.read_text(encoding="utf-8")
        why = compare_text(str(path), committed, fresh, allowed) or _check_why(
            str(path), committed, fresh, rosetta, notes
        )
        if why:
            problems.append(why)
    return problems


def _check_why(name: str, committed: str, fresh: str, rosetta: Rosetta, notes: list[str] | None) -> str | None:
    """The "Why the last digits differ" region: exactly the fresh one where the committed one was
    made on a machine like this one (why.py says why); elsewhere a note, and no verdict."""
    if rosetta.why is None:
        return None
    old, new = why_region(committed), why_region(fresh)
    if new is None:
        return None
    if old is None:
        return f"{name} is stale: it has no '{TITLE}' numbers"
    made_on = recorded_machine(old)
    if made_on != rosetta.why.machine:
        if notes is not None:
            notes.append(
                f"{name}: '{TITLE}' was made on {made_on or 'an unrecorded machine'}; this one is "
                f"{rosetta.why.machine}: its bits were not checked here"
            )
        return None
    if old != new:
        line = committed[: committed.index(old)].count("\n") + 1
        return (
            f"{name} is stale: '{TITLE}' (line {line}) records other bits than this machine, the one it "
            "names, gives now"
        )
    return None


def why_region(text: str) -> str | None:
    found = re.search(r"<!-- why -->.*?<!-- /why -->", text, re.S)
    return found.group() if found else None
