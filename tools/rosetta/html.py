"""docs/rosetta.html: the three backends in three columns, highlighted, with the loss plot; one
file that needs nothing from the network."""

from __future__ import annotations

import base64
import html
import re

from .base import DTYPE, ORDER, SHORT, TITLES, RosettaError
from .numbers import spread, value
from .plot import loss_plot_png
from .prose import GENERATED, NOT_COMPUTED, intro, region, versions_line
from .run import Rosetta, Section

# The page's style sheet (a backslash at the end of a line continues it: the page has one line there).
CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-code: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 14px 40px; color: var(--fg); background: #fff;
       font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
header { max-width: 1180px; }
h1 { font-size: 24px; margin: 18px 0 8px; }
h2 { font-size: 19px; margin: 0 0 4px; padding-top: 14px; border-top: 2px solid var(--line); }
h2 .num { color: var(--muted); font-weight: normal; margin-right: 4px; }
h2 .top { float: right; font-size: 12.5px; font-weight: normal; margin-top: 4px; }
p { margin: 6px 0; max-width: 1180px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.generated { color: var(--muted); font-size: 12.5px; }
nav ol { columns: 3; column-gap: 28px; margin: 8px 0 12px; padding-left: 22px; font-size: 13px; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; }
section { margin: 22px 0 10px; }
.intro { color: var(--muted); }
.cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; margin: 10px 0; }
.col { min-width: 0; }
.col h3 { font-size: 14px; margin: 0 0 4px; padding: 3px 8px; border-radius: 4px; color: #fff; }
.col.numpy h3 { background: #4d77cf; }
.col.torch h3 { background: #d04a2b; }
.col.jax h3 { background: #2f8a57; }
.ref { font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; margin: 8px 0 2px;
       overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ref .what { color: var(--muted); }
.highlight { background: var(--bg-code); border: 1px solid var(--line); border-radius: 6px; }
.highlight pre { margin: 0; padding: 6px 8px; overflow-x: auto;
                 font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; tab-size: 4; }
.highlight .linenos { color: #8c959f; user-select: none; padding-right: 6px; }
p code, li code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
                  background: rgba(175, 184, 193, 0.25); padding: 0 3px; border-radius: 4px; }
.wrap-toggle { position: fixed; top: 8px; right: 12px; z-index: 1; font-size: 12.5px; background: #fff;
               border: 1px solid var(--line); border-radius: 6px; padding: 3px 8px; \
box-shadow: 0 1px 3px rgba(0,0,0,.12); }
body:has(#wrap:checked) .highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.note { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 6px 10px; margin: 8px 0; max-width: none; }
table.numbers { border-collapse: collapse; margin: 6px 0; font-size: 12.5px; width: 100%; table-layout: fixed; }
table.numbers th, table.numbers td { border: 1px solid var(--line); padding: 3px 6px; text-align: left;
                                     vertical-align: top; }
table.numbers thead th { background: var(--bg-code); }
table.numbers th.label { width: 21%; font-weight: normal; }
table.numbers th.spread, table.numbers td.spread { width: 11%; }
table.numbers code { font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
"""


def render_html(rosetta: Rosetta) -> str:
    """The whole HTML page."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>The lesson side by side: NumPy, PyTorch, JAX</title>",
        f"<!-- {e(GENERATED)} -->",
        "<style>",
        CSS.strip(),
        "</style>",
        region("pygments", f"<style>\n{_pygments_css().strip()}\n</style>"),
        "</head>",
        "<body>",
        "<header>",
        '<label class="wrap-toggle"><input type="checkbox" id="wrap"> wrap long code lines</label>',
        "<h1>The lesson side by side: NumPy, PyTorch, JAX</h1>",
    ]
    out += [f"<p>{_inline_code(e(p))}</p>" for p in intro(rosetta)]
    out.append(f'<p class="generated">{_inline_code(e(GENERATED))}</p>')
    out.append(region("env", f'<p class="generated">{e(versions_line(rosetta))}</p>' if rosetta.numbers else ""))
    out.append('<nav id="contents"><ol>')
    out += [f'<li><a href="#{s.concept.key}">{e(s.concept.title)}</a></li>' for s in rosetta.sections]
    out += ["</ol></nav>", "</header>"]
    if rosetta.plot is None:
        rosetta.plot = loss_plot_png(rosetta)
    out.append(region("plot", _figure(rosetta)))
    for i, s in enumerate(rosetta.sections, 1):
        out += _section(rosetta, i, s)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _figure(rosetta: Rosetta) -> str:
    """The loss plot, embedded; "" when there is none."""
    if rosetta.plot is None:
        return ""
    e = html.escape
    data = base64.b64encode(rosetta.plot).decode("ascii")
    return "\n".join(
        [
            "<figure>",
            f'<img alt="The cost per epoch of the three backends on spec {e(rosetta.spec.name)}, overlaid, '
            f'and their distance from NumPy\'s" src="data:image/png;base64,{data}">',
            "<figcaption>The whole training run in every backend: the curves lie on top of each other (the "
            "band is the cost zigzagging up and down from one epoch to the next); the "
            "right panel shows by how much they differ, epoch by epoch.</figcaption>",
            "</figure>",
        ]
    )


def _section(rosetta: Rosetta, i: int, s: Section) -> list[str]:
    e = html.escape
    c = s.concept
    out = [
        f'<section id="{c.key}">',
        f'<h2><span class="num">{i}.</span> {e(c.title)}<a class="top" href="#contents">contents</a></h2>',
    ]
    if c.intro:
        out.append(f'<p class="intro">{_inline_code(e(c.intro))}</p>')
    out.append('<div class="cols">')
    for b in ORDER:
        out += [f'<div class="col {b}">', f"<h3>{e(TITLES[b])}</h3>"]
        for block in s.blocks[b]:
            what = f"in {block.name}" if block.part else block.name
            out.append(
                f'<div class="ref"><a href="{e(block.link)}">{e(block.path)}:{block.line}</a> '
                f'<span class="what">{e(what)}</span></div>'
            )
            out.append(_highlight(block.code, block.line).rstrip("\n"))
        out.append("</div>")
    out.append("</div>")
    out.append(f'<p class="note"><b>What differs.</b> {_inline_code(e(c.note))}</p>')
    table = [
        '<table class="numbers">',
        f'<thead><tr><th class="label">spec {e(rosetta.spec.name)}, {DTYPE}</th>'
        + "".join(f"<th>{e(SHORT[b])}</th>" for b in ORDER)
        + '<th class="spread">largest difference</th></tr></thead>',
        "<tbody>",
    ]
    for row in s.rows:
        cells = "".join(
            f"<td>{e(row.values[b])}</td>"
            if isinstance(row.values[b], str)
            else f'<td><code class="num">{value(row.values[b], row.kind)}</code></td>'
            for b in ORDER
        )
        difference = spread(row)
        spread_cell = f'<code class="num">{difference}</code>' if difference is not None else ""
        table.append(f'<tr><th class="label">{e(row.label)}</th>{cells}<td class="spread">{spread_cell}</td></tr>')
    table += ["</tbody>", "</table>"]
    out.append(region("numbers", "\n".join(table) if rosetta.numbers else e(NOT_COMPUTED)))
    out.append("</section>")
    return out


def _highlight(code: str, line: int) -> str:
    """The code highlighted by Pygments, its lines numbered from ``line``."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError as exc:
        raise RosettaError(f"rosetta: the HTML page needs pygments ({exc}): pip install pygments") from None
    formatter = HtmlFormatter(linenos="inline", linenostart=line, cssclass="highlight", wrapcode=True)
    return str(highlight(code, PythonLexer(), formatter))


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))


def _inline_code(escaped: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
