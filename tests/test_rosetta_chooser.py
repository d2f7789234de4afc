"""The side-by-side page's framework chooser (tools/rosetta/chooser.py): a box per column, generated
from the columns; ``?show=torch,jax`` in the address opens that view, and ticking a box writes the
address; without JavaScript every column shows and the boxes still hide columns (CSS alone).

The browser tests open the committed pages (tests/test_rosetta.py checks that they are current) in
headless Chromium, in an iframe as wide as the width to test (its window is never narrower than
500 px), with the query in the iframe's address. Chromium runs with --allow-file-access-from-files
so that the host page may read the iframe's file:// document: its script measures what the browser
laid out, clicks boxes as a reader would, and writes what it found into the host page, which
--dump-dom prints.
"""

import html
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from softmax_rosetta.tools.rosetta import ORDER, chooser
from softmax_rosetta.tools.rosetta.base import SHORT
from softmax_rosetta.tools.rosetta.page_text import PAGES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TWO = ORDER[1:3]  # two columns to show, the first column hidden (with a fourth backend, two of four)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def committed(lang):
    return (DOCS / PAGES[lang]).read_text(encoding="utf-8")


def script_of(page):
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    return script


def address(shown):
    """What the page's script writes into the address for the columns ``shown``."""
    return "" if set(shown) == set(ORDER) else "?show=" + ",".join(b for b in ORDER if b in shown)


# --- the page's text ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", PAGES)
def test_every_column_has_a_box_named_by_its_backend_and_a_rule_that_hides_it(lang):
    page = committed(lang)
    boxes = re.findall(
        r'<label><input type="checkbox" id="show-(\w+)" data-backend="(\w+)" checked [^>]*>([^<]+)</label>', page
    )
    assert [(b, b, SHORT[b]) for b in ORDER] == boxes
    columns = set(re.findall(r'<div class="col (\w+)">', page))
    cells = set(re.findall(r'<t[hd] class="(\w+)"', page)) - {"label", "spread"}
    assert columns == cells == set(ORDER)
    for b in ORDER:  # hidden while its box is unticked, unless every box is
        hidden = f":is(.col.{b}, table.numbers :is(th, td).{b}, .note li.{b}) {{ display: none; }}"
        assert f"body:has(.chooser input:checked):has(#show-{b}:not(:checked)) {hidden}" in page, b
    # the boxes are labelled, and the prose says how to use them, in the page's language
    label = re.search(r'<span class="controls chooser" role="group" aria-label="([^"]+)">\1 <label>', page)
    assert label, "the chooser's label"
    prose = re.search(r'<p class="generated">([^\n]*<code class="nb">(\?show=[^<]+)</code>[^\n]*)</p>', page)
    assert prose and prose[2] == address(ORDER[1:]), "the chooser's prose with an example address"
    assert bool(HANGUL.search(label[1] + prose[1])) == (lang == "ko"), (label[1], prose[1])


def test_the_script_names_no_backend():
    """It reads the columns from the boxes: a new backend's column needs no change to it."""
    script = script_of(committed("en"))
    assert script.strip() == chooser.SCRIPT.strip() and script_of(committed("ko")) == script
    for name in [*ORDER, *SHORT.values(), "mlx", "MLX"]:
        assert not re.search(rf"\b{re.escape(name)}\b", script, re.I), name


def test_another_column_gets_its_box_and_its_rule(monkeypatch):
    """A plugin's backend with a docs.toml: its box and its rule come from its name alone."""
    monkeypatch.setattr(chooser, "ORDER", (*ORDER, "plugin"))
    monkeypatch.setattr(chooser, "SHORT", {**SHORT, "plugin": "Plugin"})
    assert re.findall(r'data-backend="(\w+)"[^>]*>([^<]+)<', chooser.boxes_html("Show:")) == [
        *((b, SHORT[b]) for b in ORDER),
        ("plugin", "Plugin"),
    ]
    rule = ":is(.col.plugin, table.numbers :is(th, td).plugin, .note li.plugin) { display: none; }"
    assert f"#show-plugin:not(:checked)) {rule}" in chooser.css()
    assert chooser.example() == "?show=" + ",".join((*ORDER[1:], "plugin"))


# --- in Chromium --------------------------------------------------------------------------------

# Runs in the host page once the iframe has loaded: the state of the page, then each click's.
PROBE = """<script>
const CLICKS = %(clicks)s;
window.addEventListener("load", () => {
  const frame = document.getElementById("page"), doc = frame.contentDocument, win = frame.contentWindow;
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const shown = e => e.getClientRects().length > 0;
  const state = () => ({
    search: win.location.search, hash: win.location.hash, viewport: win.innerWidth,
    page: doc.documentElement.scrollWidth,
    boxes: Object.fromEntries([...doc.querySelectorAll(".chooser input")].map(
      i => [i.dataset.backend, {checked: i.checked, disabled: i.disabled}])),
    chooser: box(doc.querySelector(".chooser")), title: box(doc.querySelector("h1")),
    other_language: doc.querySelector("a[hreflang]").search,
    columns: [...doc.querySelectorAll("section .cols")].map(
      c => [...c.children].filter(shown).map(e => [e.classList[1], box(e)])),
    rows: [...new Set([...doc.querySelectorAll("table.numbers:not(.why) tbody tr")].map(
      r => [...r.querySelectorAll("td:not(.spread)")].filter(shown).map(td => td.className).join(",")))],
    heads: [...new Set([...doc.querySelectorAll("table.numbers:not(.why) thead tr")].map(
      r => [...r.querySelectorAll("th:not(.label):not(.spread)")].filter(shown).map(th => th.className).join(",")))]
  });
  const out = {start: state(), clicks: []};
  for (const name of CLICKS) {
    doc.querySelector('.chooser input[data-backend="' + name + '"]').click();
    out.clicks.push(state());
  }
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _render_script():
    spec = importlib.util.spec_from_file_location("render_rosetta", ROOT / "scripts" / "render_rosetta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    render = _render_script()
    chromium = render.find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (Debian: apt-get install -y chromium)")
    return render, chromium


def _open(browser, tmp_path, query, width=1280, lang="en", clicks=(), script=True, hash=""):
    """The probe's findings for the committed page opened at ``page?query#hash``, ``width`` CSS pixels
    wide, then after each of ``clicks`` (backends whose box is clicked). script=False: the iframe is
    sandboxed without scripts, so the page's own script doesn't run (the probe's, outside it, does)."""
    render, chromium = browser
    url = (DOCS / PAGES[lang]).as_uri() + query + hash
    sandbox = "" if script else ' sandbox="allow-same-origin"'
    host = tmp_path / f"host-{width}.html"
    host.write_text(
        '<!DOCTYPE html>\n<html><body style="margin: 0">'
        f'<iframe id="page"{sandbox} style="display: block; border: 0; width: {width}px; height: 1500px" '
        f'src="{html.escape(url, quote=True)}"></iframe>\n'
        + PROBE % {"clicks": json.dumps(list(clicks))}
        + "\n</body></html>\n",
        encoding="utf-8",
    )
    with render.fresh_profile() as profile:
        flags = [*render.flags(profile, max(width, 800), 1500), "--allow-file-access-from-files"]
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", host.as_uri()], capture_output=True, text=True, timeout=120
        ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def _shown(state):
    """The backends whose columns show, the same in every section, and in every row of the numbers."""
    columns = {tuple(name for name, _ in section) for section in state["columns"]}
    assert len(columns) == 1, columns
    (shown,) = columns
    assert state["rows"] == [",".join(shown)], (shown, state["rows"])
    return shown


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("lang", PAGES)
def test_a_link_with_show_opens_that_view(browser, tmp_path, lang, width):
    """?show=torch,jax: the first column hidden in every section and table, the two side by side at
    1280 px (each half the page), one under the other at 390 px (each the page's width); the page no
    wider than the window; the chooser inside it and off the title; the other language's link keeps
    the choice."""
    query = "?show=" + ",".join(TWO)
    state = _open(browser, tmp_path, query, width, lang)["start"]
    assert state["viewport"] == width and state["page"] <= width, state
    assert state["search"] == query == state["other_language"], state
    assert state["boxes"] == {b: {"checked": b in TWO, "disabled": False} for b in ORDER}
    assert _shown(state) == TWO
    if width >= 1000:
        assert state["heads"] == [",".join(TWO)], state["heads"]
    chooser_box, title = state["chooser"], state["title"]
    assert 0 <= chooser_box[0] and chooser_box[2] <= width, chooser_box
    assert chooser_box[1] >= title[3] or chooser_box[0] >= title[2], (chooser_box, title)
    for (_, a), (_, b) in (section for section in state["columns"]):
        if width >= 1000:  # side by side, each about half of the page
            assert a[1] == b[1] and a[2] < b[0] and min(a[2] - a[0], b[2] - b[0]) >= (width - 40) / 2 - 10, (a, b)
        else:  # one under the other, each the page's width
            assert a[0] == b[0] and a[3] <= b[1] and min(a[2] - a[0], b[2] - b[0]) >= width - 40, (a, b)


@pytest.mark.browser
def test_ticking_a_box_writes_the_address_and_the_last_one_stays(browser, tmp_path):
    """Ticked, the hidden column returns and the address says so (no ?show= when all show); the
    anchor stays; the last ticked box can't be unticked."""
    first, (second, third) = ORDER[0], TWO
    found = _open(browser, tmp_path, address(TWO), clicks=[first, first, second, third], hash="#softmax")
    assert _shown(found["start"]) == TWO and found["start"]["hash"] == "#softmax"
    expected = [(*ORDER[:3],), TWO, (third,), (third,)]
    for state, shown in zip(found["clicks"], expected, strict=True):
        assert _shown(state) == shown, (shown, state)
        assert state["search"] == address(shown) == state["other_language"], (shown, state["search"])
        assert state["hash"] == "#softmax"
        last = len(shown) == 1
        assert state["boxes"] == {b: {"checked": b in shown, "disabled": last and b in shown} for b in ORDER}


@pytest.mark.browser
@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (f"?show={TWO[0].upper()},nope,,bogus", (TWO[0],)),  # names are case-blind; the unknown ones ignored
        (f"?show={TWO[1]}&show={ORDER[0]}", (ORDER[0], TWO[1])),  # two parameters join; the page's order
        ("?show=nope", ORDER),  # naming no column: all of them
        ("?show=", ORDER),
    ],
)
def test_unknown_names_are_ignored(browser, tmp_path, query, shown):
    state = _open(browser, tmp_path, query)["start"]
    assert _shown(state) == shown
    assert state["search"] == query  # the address is written only when a box changes


@pytest.mark.browser
def test_without_javascript_every_column_shows_and_the_boxes_still_hide(browser, tmp_path):
    """The page's script doesn't run: ?show= is not read, every column shows; unticking a box hides
    its column (CSS alone); unticking every box shows them all again."""
    found = _open(browser, tmp_path, address(TWO), clicks=list(ORDER), script=False)
    start, *clicks = found["start"], *found["clicks"]
    assert _shown(start) == ORDER and all(
        box == {"checked": True, "disabled": False} for box in start["boxes"].values()
    )
    for k, state in enumerate(clicks[:-1], 1):
        assert _shown(state) == ORDER[k:], k
        assert state["search"] == address(TWO)  # untouched
    assert _shown(clicks[-1]) == ORDER, "every box unticked: every column"
