"""docs/rosetta.md: the backends one after another, for reading on GitHub."""

from __future__ import annotations

import re

from . import notes
from .base import DTYPE, ORDER, SHORT, TITLES
from .numbers import spread, value
from .prose import GENERATED, NOT_COMPUTED, intro, region, versions_line
from .run import Rosetta, Section
from .why import ANCHOR, PROSE, TITLE, region_markdown


def render_markdown(rosetta: Rosetta) -> str:
    """The whole Markdown page."""
    out = ["# The lesson side by side: NumPy, PyTorch, JAX, MLX", "", f"<!-- {GENERATED} -->", ""]
    out += [p + "\n" for p in intro(rosetta)]
    out += [
        region("env", versions_line(rosetta) if rosetta.numbers else ""),
        "",
        "The same page with the backends in columns, syntax highlighting and the loss "
        "plot: [rosetta.html](rosetta.html) (one file, nothing to download).",
        "",
    ]
    out += ["Contents:", ""]
    out += [f"{i}. [{s.concept.title}](#{md_anchor(i, s.concept.title)})" for i, s in enumerate(rosetta.sections, 1)]
    out += [f"- [{TITLE}](#{ANCHOR})", ""]
    for i, s in enumerate(rosetta.sections, 1):
        out += _section(rosetta, i, s)
    out += [f"## {TITLE}", ""] + [p + "\n" for p in PROSE]
    out += [region("why", region_markdown(rosetta.why, rosetta.spec)), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _section(rosetta: Rosetta, i: int, s: Section) -> list[str]:
    c = s.concept
    out = [f"## {i}. {c.title}", ""]
    if c.intro:
        out += [c.intro, ""]
    for b in ORDER:
        out += [f"### {TITLES[b]}", ""]
        for block in s.blocks[b]:
            where = (
                f"lines {block.line} to {block.end_line}, in `{block.name}`"
                if block.part
                else f"line {block.line}: `{block.name}`"
            )
            out += [f"[`{block.path}` {where}]({block.link})", "", "```python", block.code, "```", ""]
    out += notes.markdown("**What differs.**", c.note, c, "en")
    out += [f"**The numbers** (spec {rosetta.spec.name}, {DTYPE}):", ""]
    table = [
        "| | " + " | ".join(SHORT[b] for b in ORDER) + " | largest difference |",
        "|---|" + "---|" * len(ORDER) + "---|",
    ]
    for row in s.rows:
        cells = [
            row.values[b] if isinstance(row.values[b], str) else f"`{value(row.values[b], row.kind)}`" for b in ORDER
        ]
        difference = spread(row)
        last = f"`{difference}`" if difference is not None else ""
        table.append(f"| {row.label} | " + " | ".join(cells) + f" | {last} |")
    out += [region("numbers", "\n".join(table) if rosetta.numbers else NOT_COMPUTED), ""]
    return out


def md_anchor(i: int, title: str) -> str:
    """GitHub's heading anchor for '## {i}. {title}'."""
    text = f"{i}. {title}".lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")
