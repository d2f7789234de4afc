"""docs/rosetta.html: the backends in columns side by side, highlighted, with the loss plot, and a box
per column to show or hide it (chooser.py); one file that needs nothing from the network."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from . import chooser, columns, notes
from .base import DTYPE, ORDER, SHORT, TITLES, RosettaError
from .extract import Block
from .numbers import spread, value
from .page_text import WHY_PROSE_KO, WHY_TITLE_KO, concept, generated, intro, text, words
from .plot import loss_plot_png
from .prose import NOT_COMPUTED, region
from .run import Rosetta, Section
from .why import ANCHOR, PROSE, TITLE, region_html

NARROW_PLOT_PX = 700  # at most this wide, the page shows the plot's narrow drawing

# The page's style sheet (and after it, the chooser's: chooser.py).
# The columns share the width equally, however many are shown (the chooser hides some). Code wraps
# unless the "wrap long lines" box is unticked (then a long line scrolls inside its block); a wrapped
# line's continuation is indented past the line numbers. Under 900 px the columns stack; under 520 px
# (a phone) each row of a numbers table becomes a small card, one backend a line, and the plot shows
# its narrow drawing (panels stacked). A number never breaks, nor does its comma leave it (.nb); should
# a table still not fit, it scrolls inside its own box, never the page.
CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-code: #f6f8fa; --accent: #0969da;
        --mono: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 14px 40px; color: var(--fg); background: #fff;
       font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", Helvetica, Arial,
             "Apple SD Gothic Neo", "Malgun Gothic", "Noto Sans KR", "Noto Sans CJK KR", NanumGothic, sans-serif; }
header { max-width: 1180px; }
.titlebar { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
            gap: 6px 24px; margin: 18px 0 8px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0; }
.controls { font-size: 13px; white-space: nowrap; border: 1px solid var(--line); border-radius: 6px;
            padding: 3px 10px; background: var(--bg-code); cursor: pointer; }
.controls input { vertical-align: -2px; margin: 0 4px 0 0; }
.switch { display: flex; flex-wrap: wrap; gap: 6px 8px; }
h2 { font-size: 19px; margin: 0 0 4px; padding-top: 14px; border-top: 2px solid var(--line); }
h2 .num { color: var(--muted); font-weight: normal; margin-right: 4px; }
h2 .top { float: right; font-size: 12.5px; font-weight: normal; margin-top: 4px; }
p { margin: 6px 0; max-width: 1180px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.generated { color: var(--muted); font-size: 12.5px; }
nav ol { columns: 3; column-gap: 28px; margin: 8px 0 12px; padding-left: 22px; font-size: 13px; }
figure { margin: 10px 0 18px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; }
.nb { white-space: nowrap; }
section { margin: 22px 0 10px; }
.intro { color: var(--muted); }
.cols { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(0, 1fr); gap: 10px; margin: 10px 0; }
.col { min-width: 0; }
.col h3 { font-size: 14px; margin: 0 0 4px; padding: 3px 8px; border-radius: 4px; color: #fff; }
.ref { font: 11.5px/1.4 var(--mono); margin: 8px 0 2px; overflow-wrap: anywhere; }
.ref .what { color: var(--muted); }
.highlight { background: var(--bg-code); border: 1px solid var(--line); border-radius: 6px; }
.highlight pre { margin: 0; padding: 6px 8px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
                 font: 11.5px/1.4 var(--mono); tab-size: 4; }
body:has(#wrap:not(:checked)) .highlight pre { white-space: pre; overflow-wrap: normal; }
.highlight code > span[id] { display: block; --hang: calc(3ch + 8px + var(--indent, 0ch) + 2ch);
                             padding-left: var(--hang); text-indent: calc(-1 * var(--hang)); }
.highlight code > span[id]:target { background: #fff8c5; }
.highlight .linenos { display: inline-block; width: 3ch; margin-right: 8px; padding: 0; text-align: right;
                      text-indent: 0; white-space: pre; color: #8c959f; user-select: none; }
.highlight a:hover .linenos { color: var(--accent); }
p code, li code { font: 12.5px var(--mono); background: rgba(175, 184, 193, 0.25); padding: 0 3px; border-radius: 4px; }
.note { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 6px 10px; margin: 8px 0; max-width: none; }
.note p { margin: 0; }
.note ul { margin: 6px 0 0; padding-left: 20px; }
.note li { margin: 3px 0; }
.note code { overflow-wrap: anywhere; }  /* a long name in a note breaks on a phone, not the page */
.table-box { overflow-x: auto; }
table.numbers { border-collapse: collapse; margin: 6px 0; font-size: 12.5px; width: 100%; table-layout: fixed; }
table.numbers th, table.numbers td { border: 1px solid var(--line); padding: 3px 6px; text-align: left;
                                     vertical-align: top; }
table.numbers thead th { background: var(--bg-code); }
table.numbers th.label { width: 21%; font-weight: normal; }
table.numbers th.spread, table.numbers td.spread { width: 11%; }
table.numbers code { font: 11.5px/1.4 var(--mono); }
@media (max-width: 900px) {
  .cols { grid-auto-flow: row; grid-template-columns: minmax(0, 1fr); }
  nav ol { columns: 2; }
  table.numbers { table-layout: auto; }
  table.numbers th.label, table.numbers th.spread, table.numbers td.spread { width: auto; }
}
@media (max-width: 520px) {
  body { padding: 0 10px 32px; }
  h1 { font-size: 21px; }
  nav ol { columns: 1; }
  table.numbers, table.numbers tbody, table.numbers thead, table.numbers tr { display: block; }
  table.numbers thead th:not(.label), table.numbers td.spread:empty { display: none; }
  table.numbers th.label { display: block; width: auto; }
  table.numbers tbody tr { border: 1px solid var(--line); border-top: 0; }
  table.numbers tbody th.label { border: 0; font-weight: 600; background: #fbfbfc; }
  table.numbers td { display: grid; grid-template-columns: 6.2em minmax(0, 1fr); gap: 6px; border: 0; }
  table.numbers th.spread, table.numbers td.spread { width: auto; }
  table.numbers td::before { content: attr(data-label); color: var(--muted); }
  table.numbers td > code { align-self: start; }
}
"""


def render_html(rosetta: Rosetta, lang: str = "en") -> str:
    """The whole HTML page, in ``lang`` ("en", "ko": page_text.py); the code and numbers are the same in each."""
    e = html.escape
    t = text
    title = t("title", lang)
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<!-- {e(generated(lang))} -->",
        "<style>",
        CSS.strip(),
        _heading_css(),
        chooser.css(),
        "</style>",
        region("pygments", f"<style>\n{_pygments_css().strip()}\n</style>"),
        "</head>",
        "<body>",
        "<header>",
        '<div class="titlebar">',
        f"<h1>{e(title)}</h1>",
        '<span class="switch">',
        f'<span class="controls language">{t("other_language", lang)}</span>',
        chooser.boxes_html(t("show", lang)),
        f'<label class="controls"><input type="checkbox" id="wrap" checked>{e(t("wrap", lang))}</label>',
        "</span>",
        "</div>",
    ]
    out += [f"<p>{_inline_code(e(p))}</p>" for p in intro(rosetta, lang)]
    out.append(f'<p class="generated">{_inline_code(e(_links_line(rosetta, lang)))}</p>')
    choose = _inline_code(e(t("choose", lang, example=chooser.example())))  # the example address: unbroken
    choose = choose.replace(f"<code>{e(chooser.example())}</code>", f'<code class="nb">{e(chooser.example())}</code>')
    out.append(f'<p class="generated">{choose}</p>')
    out.append(f'<p class="generated">{_inline_code(e(generated(lang)))}</p>')
    versions = t("versions", lang, versions=", ".join(f"{k} {v}" for k, v in rosetta.versions.items()))
    out.append(region("env", f'<p class="generated">{e(versions)}</p>' if rosetta.numbers else ""))
    why_title = TITLE if lang == "en" else WHY_TITLE_KO
    out.append('<nav id="contents"><ol>')
    out += [f'<li><a href="#{s.concept.key}">{e(_concept(s, lang)[0])}</a></li>' for s in rosetta.sections]
    out += [f'<li><a href="#{ANCHOR}">{e(why_title)}</a></li>']
    out += ["</ol></nav>", "</header>", chooser.script_html()]
    if rosetta.plot is None:
        rosetta.plot = loss_plot_png(rosetta)
        rosetta.narrow_plot = loss_plot_png(rosetta, "narrow")
    out.append(region("plot", _figure(rosetta, lang)))
    for i, s in enumerate(rosetta.sections, 1):
        out += _section(rosetta, i, s, lang)
    root = "" if lang == "en" else "../"  # ko/rosetta.html links to the docs beside rosetta.html
    out += [f'<section id="{ANCHOR}">', f"<h2>{e(why_title)}</h2>"]
    out += [f"<p>{_prose(p, root)}</p>" for p in (PROSE if lang == "en" else WHY_PROSE_KO)]
    if t("why_record", lang):
        out.append(f"<p>{_inline_code(e(t('why_record', lang)))}</p>")
    out += [region("why", region_html(rosetta.why, rosetta.spec)), "</section>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _heading_css() -> str:
    """Each column's heading in its backend's colour (its cost curve's, [plot] line in its docs.toml), the
    title in white or near-black, whichever contrasts more with it."""
    rules = []
    for b in ORDER:
        colour = str(columns.plot_style(b)[0].get("color", "#6e7781"))
        text = "#fff" if _contrast(colour, "#ffffff") >= _contrast(colour, "#1f2328") else "#1f2328"
        rules.append(f".col.{b} h3 {{ background: {colour}; color: {text}; }}")
    return "\n".join(rules)


def _contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two colours "#rrggbb"."""

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _concept(s: Section, lang: str) -> tuple[str, str, str]:
    """The section's concept's (title, intro, note) in ``lang``."""
    c = s.concept
    return concept(c.key, c.title, c.intro, c.note, lang)


def _figure(rosetta: Rosetta, lang: str = "en") -> str:
    """The loss plot, embedded: the wide drawing, and the narrow one (panels stacked) on a phone;
    "" when there is none."""
    if rosetta.plot is None:
        return ""
    e = html.escape

    def uri(png: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    narrow = (
        f'<source media="(max-width: {NARROW_PLOT_PX}px)" srcset="{uri(rosetta.narrow_plot)}">'
        if rosetta.narrow_plot
        else ""
    )
    return "\n".join(
        [
            "<figure>",
            f"<picture>{narrow}"
            f'<img alt="{e(text("alt", lang, spec=rosetta.spec.name))}" src="{uri(rosetta.plot)}"></picture>',
            f"<figcaption>{e(text('caption', lang))}</figcaption>",
            "</figure>",
        ]
    )


def _section(rosetta: Rosetta, i: int, s: Section, lang: str = "en") -> list[str]:
    e = html.escape
    c = s.concept
    title, intro, note = _concept(s, lang)
    out = [
        f'<section id="{c.key}">',
        f'<h2><span class="num">{i}.</span> {e(title)}'
        f'<a class="top" href="#contents">{e(text("contents", lang))}</a></h2>',
    ]
    if intro:
        out.append(f'<p class="intro">{_inline_code(e(intro))}</p>')
    out.append('<div class="cols">')
    for b in ORDER:
        out += [f'<div class="col {b}">', f"<h3>{e(TITLES[b])}</h3>"]
        for block, anchor in zip(s.blocks[b], anchors(c.key, s.blocks[b]), strict=True):
            what = text("in", lang, name=block.name) if block.part else block.name
            href = block.link if block.url else f"#{anchor}-{block.line}"
            out.append(
                f'<div class="ref"><a href="{e(href)}">{e(block.path)}:{block.line}</a> '
                f'<span class="what">{e(what)}</span></div>'
            )
            out.append(_highlight(block.code, block.line, anchor).rstrip("\n"))
        out.append("</div>")
    out.append("</div>")
    out.append(f'<div class="note"><p><b>{e(text("differs", lang))}</b> {_inline_code(e(note))}</p>')
    own = notes.own(c, lang)
    if own:
        items = "".join(f'<li class="{b}"><b>{e(name)}.</b> {_inline_code(e(para))}</li>' for b, name, para in own)
        out.append(f"<ul>{items}</ul>")
    out.append("</div>")
    table = [
        '<table class="numbers">',
        f'<thead><tr><th class="label">{e(text("spec", lang, spec=rosetta.spec.name, dtype=DTYPE))}</th>'
        + "".join(f'<th class="{b}">{e(SHORT[b])}</th>' for b in ORDER)
        + f'<th class="spread">{e(text("largest", lang))}</th></tr></thead>',
        "<tbody>",
    ]
    for row in s.rows:
        cells = "".join(
            f'<td class="{b}" data-label="{e(SHORT[b])}">'
            + (
                e(words(row.values[b], lang))
                if isinstance(row.values[b], str)
                else f'<code class="num">{_unbroken(value(row.values[b], row.kind))}</code>'
            )
            + "</td>"
            for b in ORDER
        )
        difference = spread(row)
        spread_cell = f'<code class="num">{difference}</code>' if difference is not None else ""
        table.append(
            f'<tr><th class="label">{e(words(row.label, lang))}</th>{cells}'
            f'<td class="spread" data-label="{e(text("largest", lang))}">{spread_cell}</td></tr>'
        )
    table += ["</tbody>", "</table>"]
    out.append('<div class="table-box">')
    out.append(region("numbers", "\n".join(table) if rosetta.numbers else e(NOT_COMPUTED)))
    out.append("</div>")
    out.append("</section>")
    return out


def anchors(key: str, blocks: list[Block]) -> list[str]:
    """Each block's prefix for its lines' ids, unique on the page: line n of a block is
    ``{prefix}-{n}``, the prefix being the section's key, the backend and the file's name
    (``softmax-numpy-functional-16``); a block showing a line that an earlier one shows gets ``-2``."""
    out: list[str] = []
    taken: set[str] = set()
    for block in blocks:
        base = prefix = f"{key}-{block.backend}-{Path(block.path).stem}"
        k = 1
        while any(f"{prefix}-{n}" in taken for n in range(block.line, block.end_line + 1)):
            k += 1
            prefix = f"{base}-{k}"
        taken.update(f"{prefix}-{n}" for n in range(block.line, block.end_line + 1))
        out.append(prefix)
    return out


def _links_line(rosetta: Rosetta, lang: str = "en") -> str:
    """What the file links above the code blocks open."""
    url = next((b.url for s in rosetta.sections for bs in s.blocks.values() for b in bs), "")
    where = text("links_repo", lang, url=url) if url else text("links_page", lang)
    return text("links", lang, where=where)


def _highlight(code: str, line: int, anchor: str) -> str:
    """The code highlighted by Pygments, its lines numbered from ``line``, line n with id ``{anchor}-{n}``."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError as exc:
        raise RosettaError(f"rosetta: the HTML page needs pygments ({exc}): pip install pygments") from None
    formatter = HtmlFormatter(
        linenos="inline", linenostart=line, cssclass="highlight", wrapcode=True, linespans=anchor, anchorlinenos=True
    )
    page = str(highlight(code, PythonLexer(), formatter))
    # an indented line that wraps goes on under its own indentation: each one says how deep it is
    indents = [len(text) - len(text.lstrip(" ")) for text in code.split("\n")]

    def indent(m: re.Match[str]) -> str:
        n = indents[int(m[1]) - line]
        return f'<span id="{anchor}-{m[1]}" style="--indent: {n}ch">' if n else m[0]

    return re.sub(rf'<span id="{re.escape(anchor)}-(\d+)">', indent, page)


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))


def _unbroken(printed: str) -> str:
    """A printed value whose lines may break only after a comma and its space, never inside a number
    nor before its comma: each number with what sticks to it (brackets, its comma) is one span."""
    return " ".join(f'<span class="nb">{html.escape(part)}</span>' for part in printed.split(" "))


def _inline_code(escaped: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _prose(paragraph: str, root: str = "") -> str:
    """A paragraph of the shared prose: `code`, *emphasis* and [links](file.md) (to the .md beside
    rosetta.html; root: the way there from the page, "../" from ko/)."""
    out = _inline_code(html.escape(paragraph))
    out = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", rf'<a href="{root}\2">\1</a>', out)
