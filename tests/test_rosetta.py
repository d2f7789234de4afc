"""docs/rosetta.md and docs/rosetta.html: every concept complete, current against the code, readable in a browser."""

import base64
import html
import importlib.util
import itertools
import json
import re
import struct
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta.testing import require_backend, selected_backends
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.rosetta import notes
from softmax_rosetta.tools.rosetta.html import anchors

SELECTED = selected_backends()

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "regenerate them with: softmax-rosetta rosetta"
# The concepts the docs must cover, by key in the concept table (tools/rosetta/concepts.py).
REQUIRED = [
    "softmax",
    "log-softmax",
    "one-hot",
    "loss-onehot",
    "loss-nll",
    "loss-fused",
    "option-weight",
    "option-ignore-index",
    "option-reduction",
    "option-label-smoothing",
    "option-probabilities",
    "model",
    "optimizer",
    "step",
    "loop",
    "fused",
    "data-parallel",
]


@pytest.fixture(scope="module")
def fresh(trained):
    """The docs' content built now from the code, with every backend's numbers (the full
    training runs shared with the rest of the session through conftest's ``trained``)."""
    unselected = [name for name in rosetta.ORDER if name not in SELECTED]
    if unselected:
        pytest.skip(
            f"the docs' numbers need every backend; SOFTMAX_ROSETTA_BACKENDS leaves out {', '.join(unselected)}"
        )
    for name in rosetta.ORDER:
        require_backend(name)
    return rosetta.build(runs=lambda name, variant: trained(name, variant, rosetta.DTYPE))


@pytest.fixture(scope="module")
def rendered(fresh):
    return rosetta.render(fresh)


# --- complete -----------------------------------------------------------------------------------


def test_every_concept_has_every_backends_code_a_note_and_numbers(fresh):
    assert [s.concept.key for s in fresh.sections] == REQUIRED
    assert rosetta.ORDER == ("numpy", "torch", "jax", "mlx")  # the built-in four, each with its docs.toml
    for s in fresh.sections:
        c = s.concept.key
        assert s.concept.note.strip() or any(notes.own(s.concept, "en")), c
        for b in rosetta.ORDER:
            assert s.blocks[b] and all(block.code.strip() for block in s.blocks[b]), (c, b)
        assert s.rows, c
        for row in s.rows:
            for b in rosetta.ORDER:
                v = row.values[b]
                assert isinstance(v, str) or np.all(np.isfinite(np.asarray(v, dtype=np.float64))), (c, row.label, b, v)


def test_the_backends_numbers_agree_within_the_specs_tolerances(fresh):
    """What the docs show side by side must agree (the stored weight's shape differs on purpose)."""
    for s in fresh.sections:
        for row in s.rows:
            spread = row.spread()
            if spread is not None:
                assert spread <= row.tolerance, (s.concept.key, row.label, spread, row.tolerance)
    shapes = next(r.values for s in fresh.sections for r in s.rows if r.label == "the weight as stored")
    assert shapes == {"numpy": (3, 4), "torch": (3, 4), "jax": (4, 3), "mlx": (3, 4)}


def test_each_block_is_its_files_lines_and_links_to_them(fresh, rendered):
    """The Markdown links to the file's line (from docs/, as GitHub opens it); the page to the
    block's first line on the page itself, which has an id for every line of every block."""
    md, page = rendered["rosetta.md"], rendered["rosetta.html"]
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids repeat on the page"
    for s in fresh.sections:
        for b in rosetta.ORDER:
            for block, anchor in zip(s.blocks[b], anchors(s.concept.key, s.blocks[b]), strict=True):
                lines = (ROOT / block.path).read_text(encoding="utf-8").splitlines()
                assert block.code == textwrap.dedent("\n".join(lines[block.line - 1 : block.end_line])), block
                assert block.link == f"../{block.path}#L{block.line}"
                assert f"]({block.link})" in md and f"```python\n{block.code}\n```" in md
                assert anchor.startswith(f"{s.concept.key}-{b}-{Path(block.path).stem}"), anchor
                assert f'<a href="#{anchor}-{block.line}">{block.path}:{block.line}</a>' in page, (anchor, block)
                lines = {f"{anchor}-{n}" for n in range(block.line, block.end_line + 1)}
                assert lines <= set(ids), (anchor, sorted(lines - set(ids)))
    for target in re.findall(r'href="#([^"]+)"', page):  # every link within the page lands somewhere
        assert target in ids, target


@pytest.mark.slow
def test_repo_url_links_every_block_into_the_repository(tmp_path, capsys):
    pytest.importorskip("pygments", reason="the HTML page needs pygments")
    built = rosetta.build(numbers=False, repo="https://github.com/OWNER/REPO/blob/0123abc/")
    md, page = rosetta.render(built)["rosetta.md"], rosetta.render(built)["rosetta.html"]
    blocks = [block for s in built.sections for b in rosetta.ORDER for block in s.blocks[b]]
    for block in blocks:
        link = f"https://github.com/OWNER/REPO/blob/0123abc/{block.path}#L{block.line}"
        assert block.link == link
        assert f"]({link})" in md and f'<a href="{link}">{block.path}:{block.line}</a>' in page
    assert "../backends/" not in md + page
    for bad in ["github.com/OWNER/REPO", "ftp://example.org/r", "https://", "https://x.org/r#L1"]:
        with pytest.raises(rosetta.RosettaError, match=r"--repo-url.*got '"):
            rosetta.build(numbers=False, repo=bad)
    assert main(["rosetta", "--repo-url", "example.org/r", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "got 'example.org/r'" in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_name_that_is_gone_fails_loudly():
    """The errors name the file that lacks the code and the backend's docs.toml that names it."""
    with pytest.raises(
        rosetta.RosettaError,
        match=r"backends/numpy_impl/functional.py has no 'softmax_v2' .*in backends/numpy_impl/docs.toml\)",
    ):
        rosetta.extract("numpy", "functional:softmax_v2")
    with pytest.raises(
        rosetta.RosettaError, match=r"backends/torch_impl/nope.py does not exist .*in backends/torch_impl/docs.toml\)"
    ):
        rosetta.extract("torch", "nope:train")
    with pytest.raises(
        rosetta.RosettaError, match=r"train has no line containing 'no such line' .*jax_impl/docs.toml\)"
    ):
        rosetta.extract("jax", rosetta.Ref("train:train", ("no such line", "return")))
    block = rosetta.extract("jax", "model:SoftmaxClassifier.__call__")
    assert block.code.startswith("def __call__(self, x):")
    # a class that was renamed, and a method that one backend's class doesn't have
    with pytest.raises(rosetta.RosettaError, match=r"jax_impl/model.py has no 'SoftmaxClassifierModel.__call__'"):
        rosetta.extract("jax", "model:SoftmaxClassifierModel.__call__")
    with pytest.raises(rosetta.RosettaError, match=r"torch_impl/model.py has no 'SoftmaxClassifier.backward'"):
        rosetta.extract("torch", "model:SoftmaxClassifier.backward")


# --- current ------------------------------------------------------------------------------------


def test_the_committed_docs_are_current(fresh):
    problems = rosetta.check(DOCS, fresh)
    assert not problems, "\n".join(problems) + f"\n{REGENERATE}"


def test_the_committed_docs_code_is_current_without_running_the_backends():
    """The code, links and notes are checked even where torch or JAX is not installed."""
    pytest.importorskip("pygments", reason="the HTML page needs pygments")
    problems = rosetta.check(DOCS, rosetta.build(numbers=False))
    assert not problems, "\n".join(problems) + f"\n{REGENERATE}"


@pytest.mark.slow
def test_staleness_is_caught_and_rounding_is_not(fresh, rendered, tmp_path):
    rosetta.write(tmp_path, fresh)
    assert rosetta.check(tmp_path, fresh) == []
    md_path = tmp_path / "rosetta.md"
    md = rendered["rosetta.md"]

    # a code line changed: stale, naming the file and the line
    md_path.write_text(md.replace("return F.softmax(z, dim=axis)", "return F.softmax(z, dim=-1)"))
    (problem,) = rosetta.check(tmp_path, fresh)
    line = md.splitlines().index("    return F.softmax(z, dim=axis)") + 1
    assert problem.startswith(f"{md_path} is stale: line {line} differs"), problem

    # a number off by more than its tolerance: stale; within it (another machine's last digit): current
    cell = "| final cost | `0.254148` |"  # the fused loop's final cost in NumPy; tolerance 2e-6
    assert md.count(cell) == 1
    md_path.write_text(md.replace(cell, cell.replace("0.254148", "0.254149")))
    assert rosetta.check(tmp_path, fresh) == []
    md_path.write_text(md.replace(cell, cell.replace("0.254148", "0.254158")))
    line = md[: md.index(cell)].count("\n") + 1
    assert rosetta.check(tmp_path, fresh) == [
        f"{md_path} is stale: line {line} shows 0.254158, the backends now give 0.254148 "
        "(allowed: 2e-06 + one unit of the last digit)"
    ]

    # in the page, highlighted code is compared by its text: another Pygments may mark it up otherwise
    md_path.write_text(md)
    html_path = tmp_path / "rosetta.html"
    page = rendered["rosetta.html"]
    remarked = page.replace('<span class="k">', '<span class="kw">').replace(".highlight .k {", ".highlight .kw {")
    html_path.write_text(remarked)
    assert rosetta.check(tmp_path, fresh) == []
    html_path.write_text(page.replace('<span class="n">dim</span>', '<span class="n">dims</span>', 1))
    (problem,) = rosetta.check(tmp_path, fresh)
    assert problem.startswith(f"{html_path} is stale: line") and "dims=axis" in problem, problem
    html_path.write_text(page)

    # the versions line and the plot are not compared; a missing file is named
    md_path.write_text(md.replace("Computed with numpy", "Computed with numpy 0.0 and"))
    html_path.write_text(re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,AAAA", page))
    assert rosetta.check(tmp_path, fresh) == []
    (tmp_path / "rosetta.html").unlink()
    assert rosetta.check(tmp_path, fresh) == [f"{tmp_path / 'rosetta.html'} is missing"]


@pytest.mark.slow
def test_cli_writes_and_checks(fresh, tmp_path, monkeypatch, capsys):
    # the CLI's own build would train again: replace build() where the CLI calls it and where write() does
    for module in (rosetta, rosetta.docs):
        monkeypatch.setattr(module, "build", lambda *a, **k: fresh)
    out = tmp_path / "docs"
    assert main(["rosetta", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ko", "lesson.md", "rosetta.html", "rosetta.md"]
    assert sorted(p.name for p in (out / "ko").iterdir()) == ["lesson.md", "rosetta.html"]
    assert main(["rosetta", "--check", "--out", str(out)]) == 0
    assert "are current" in capsys.readouterr().out
    md = out / "rosetta.md"
    md.write_text(md.read_text().replace("## 1. Softmax", "## 1. Softmax!"))
    assert main(["rosetta", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"softmax-rosetta: {md} is stale: line" in err and "softmax-rosetta rosetta --out" in err


# --- the HTML page ------------------------------------------------------------------------------


def test_the_page_is_self_contained_with_three_columns_and_the_plot(fresh, rendered):
    page = rendered["rosetta.html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not need the network"
    assert "<link" not in page and "@import" not in page
    # one script, inline (the framework chooser's: tests/test_rosetta_chooser.py), fetching nothing
    assert re.findall(r"<script\b[^>]*>", page) == ["<script>"], re.findall(r"<script\b[^>]*>", page)
    script = page.split("<script>")[1].split("</script>")[0]
    assert not re.search(r"\b(fetch|XMLHttpRequest|import)\s*\(|\bimport\s|//", script), "the script fetches"
    for b in rosetta.ORDER:
        assert page.count(f'<div class="col {b}">') == len(fresh.sections)
    assert page.count('<div class="highlight">') == sum(len(s.blocks[b]) for s in fresh.sections for b in rosetta.ORDER)
    # the plot twice: its narrow drawing (panels stacked) for a phone, then the wide one
    narrow, wide = (base64.b64decode(d) for d in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page))
    assert narrow[:8] == wide[:8] == b"\x89PNG\r\n\x1a\n"
    (w, h), (nw, nh) = _png_size(wide), _png_size(narrow)
    assert w >= 1000 and w > h and nh > nw, ((w, h), (nw, nh))
    assert re.search(r'<picture><source media="\(max-width: \d+px\)" srcset="data:image/png;base64,', page)


def _png_size(png):
    return struct.unpack(">II", png[16:24])


def _render_script():
    spec = importlib.util.spec_from_file_location("render_rosetta", ROOT / "scripts" / "render_rosetta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Laid out by the browser, measured by a script added to a copy of the page (the page's own script,
# the framework chooser's, leaves every column shown: no ?show= reaches a srcdoc): the page's width,
# the title and the "wrap long lines" box, each section's columns, and every code block with
# the box ticked (its default) and unticked. A block is "cut" when its lines are wider than it and it
# doesn't scroll; "clipped" lists any element that hides what overflows it. The copy is shown in an
# iframe as wide as the window to test (headless Chromium's own window is never narrower than
# 500 px), and the script writes what it measured into the host page, which --dump-dom prints.
LAYOUT_PROBE = """<script>
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const name = e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "");
function code() {
  const pres = [...document.querySelectorAll(".highlight pre")];
  const wide = pres.filter(p => p.scrollWidth > p.clientWidth);
  return {
    page: document.documentElement.scrollWidth, blocks: pres.length,
    wrapped: pres.filter(p => getComputedStyle(p).whiteSpace === "pre-wrap").length,
    wider_than_their_block: wide.length,
    cut: wide.filter(p => !["auto", "scroll"].includes(getComputedStyle(p).overflowX)).length,
    off_the_page: pres.filter(p => box(p)[0] < 0 || box(p)[2] > window.innerWidth).length,
    clipped: [...document.body.querySelectorAll("*")].filter(e => ["hidden", "clip"].includes(
      getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth).map(name)};
}
function numbers() {  // every number (span.nb: a number with its brackets and comma) and its cell
  const spans = [...document.querySelectorAll("table.numbers code.num .nb")];
  const single = [...document.querySelectorAll("table.numbers code.num")].filter(c => !c.textContent.includes(" "));
  const cells = [...document.querySelectorAll("table.numbers td, table.numbers th")];
  return {
    spans: spans.length, broken: spans.filter(s => s.getClientRects().length > 1).map(s => s.textContent),
    single: single.length,
    taller_than_a_line: single.filter(c => c.getBoundingClientRect().height > 1.5 * parseFloat(
      getComputedStyle(c).lineHeight)).map(c => c.textContent),
    off_the_page: cells.filter(c => box(c)[0] < 0 || box(c)[2] > window.innerWidth).length};
}
function plot() {
  const img = document.querySelector("figure img");
  return {box: box(img), natural: img.naturalWidth, shown: img.getBoundingClientRect().width};
}
const wrap = document.getElementById("wrap");
const layout = {
  viewport: window.innerWidth, title: box(document.querySelector("h1")),
  controls: box(wrap.closest("label")), ticked: wrap.checked,
  columns: [...document.querySelectorAll("section .cols")].map(c => [...c.children].map(box)),
  code_font_px: parseFloat(getComputedStyle(document.querySelector(".highlight pre")).fontSize),
  scroll_width: document.scrollingElement.scrollWidth,
  numbers: numbers(), plot: plot(), wrapped: code()};
wrap.checked = false;
layout.unwrapped = code();
parent.document.body.insertAdjacentHTML("beforeend", "<pre id='probe'>" + JSON.stringify(layout) + "</pre>");
</script>"""


def _layout(render, chromium, page, width, tmp_path):
    """The probe's measurements of the page laid out at ``width`` CSS pixels."""
    measured = page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "\n</body>")
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(
        '<!DOCTYPE html>\n<html><body style="margin: 0">'
        f'<iframe style="display: block; border: 0; width: {width}px; height: 2000px" '
        f'srcdoc="{html.escape(measured, quote=True)}"></iframe></body></html>\n',
        encoding="utf-8",
    )
    with render.fresh_profile() as profile:
        dom = subprocess.run(
            [chromium, *render.flags(profile, max(width, 800), 2000), "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("name", ["rosetta.html", "ko/rosetta.html"])
def test_the_page_reads_in_headless_chromium_at_1280_and_390_px(name, width, tmp_path):
    """The committed page, English and Korean (test_the_committed_docs_are_current says they are the
    code's): never wider
    than the window, every code line readable (wrapped, or scrolling inside its block once "wrap
    long lines" is unticked), the box beside or under the title, never on it; the columns side by
    side at 1280 px, one under another at 390 px; no number broken or its comma wrapped onto a line
    of its own; the plot inside the window with text at least 10 px high (its narrow drawing at 390 px)."""
    render = _render_script()
    chromium = render.find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (Debian: apt-get install -y chromium)")
    page = DOCS / name
    png = tmp_path / f"rosetta-{width}.png"
    render.render(page, png, width=width, height=2000, chromium=chromium)
    assert _png_size(png.read_bytes()) == (width, 2000)

    layout = _layout(render, chromium, page, width, tmp_path)
    assert layout["viewport"] == width, layout
    title, controls = layout["title"], layout["controls"]
    apart = controls[0] >= title[2] or controls[2] <= title[0] or controls[1] >= title[3] or controls[3] <= title[1]
    assert apart, f"the wrap box {controls} overlaps the title {title}"
    assert 0 <= controls[0] and controls[2] <= width, controls
    for state in ("wrapped", "unwrapped"):
        code = layout[state]
        assert code["page"] == width, (state, code)  # the page never scrolls sideways
        assert code["cut"] == 0 and code["off_the_page"] == 0 and code["clipped"] == [], (state, code)
    assert layout["ticked"], "long lines wrap by default"
    wrapped, unwrapped = layout["wrapped"], layout["unwrapped"]
    assert wrapped["wrapped"] == wrapped["blocks"] > 0 and wrapped["wider_than_their_block"] == 0, wrapped
    # unticked: nothing wraps, and the long lines scroll inside their own block
    assert unwrapped["wrapped"] == 0 and unwrapped["wider_than_their_block"] > 0, unwrapped
    assert 11 <= layout["code_font_px"] <= 13, layout

    # nothing scrolls the page sideways; no number breaks, nor leaves its comma behind
    assert layout["scroll_width"] <= width, layout["scroll_width"]
    numbers = layout["numbers"]
    assert numbers["spans"] > 100 and numbers["single"] > 20, numbers
    assert numbers["broken"] == [] and numbers["taller_than_a_line"] == [] and numbers["off_the_page"] == 0, numbers
    # the plot: inside the window, its text at least 10 CSS px high (9-point type, plot.LAYOUTS),
    # the narrow drawing (panels stacked) on a phone
    from softmax_rosetta.tools.rosetta.plot import LAYOUTS

    figure = layout["plot"]
    assert 0 <= figure["box"][0] and figure["box"][2] <= width, figure
    kind = "narrow" if width <= 700 else "wide"
    (inches, _), dpi, font = LAYOUTS[kind]
    assert figure["natural"] == round(inches * dpi), (kind, figure)
    text_px = font * dpi / 72 * figure["shown"] / figure["natural"]
    assert text_px >= 10, (kind, figure, text_px)

    columns, n = layout["columns"], len(rosetta.ORDER)
    assert columns and all(len(c) == n for c in columns)
    for boxes in columns:
        pairs = list(itertools.pairwise(boxes))
        if width >= 1000:  # side by side, in order, each about an n-th of the page (300 px for 4 at 1280)
            assert all(a[1] == b[1] and a[0] < b[0] for a, b in pairs), boxes
            assert min(r[2] - r[0] for r in boxes) >= (width - 40) / n - 20, boxes
        else:  # one under another, each the page's width
            assert all(a[0] == b[0] and a[3] <= b[1] for a, b in pairs), boxes
            assert min(r[2] - r[0] for r in boxes) >= width - 40, boxes
