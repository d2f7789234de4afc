"""docs/rosetta.md and docs/rosetta.html: every concept complete, current against the code, readable in a browser."""

import base64
import importlib.util
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


def test_every_concept_has_three_backends_code_a_note_and_numbers(fresh):
    assert [s.concept.key for s in fresh.sections] == REQUIRED
    for s in fresh.sections:
        c = s.concept.key
        assert s.concept.note.strip(), c
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
    assert shapes == {"numpy": (3, 4), "torch": (3, 4), "jax": (4, 3)}


def test_each_block_is_its_files_lines_and_links_to_them(fresh, rendered):
    md, page = rendered["rosetta.md"], rendered["rosetta.html"]
    for s in fresh.sections:
        for b in rosetta.ORDER:
            for block in s.blocks[b]:
                lines = (ROOT / block.path).read_text(encoding="utf-8").splitlines()
                assert block.code == textwrap.dedent("\n".join(lines[block.line - 1 : block.end_line])), block
                assert block.link == f"../{block.path}#L{block.line}"
                assert f"]({block.link})" in md and f'href="{block.link}"' in page
                assert f"```python\n{block.code}\n```" in md


def test_a_name_that_is_gone_fails_loudly():
    """The errors name the file that lacks the code and the file with the table that names it."""
    assert (ROOT / rosetta.TABLE_FILE).is_file() and rosetta.TABLE_FILE.endswith("concepts.py")
    table = re.escape(rosetta.TABLE_FILE)
    with pytest.raises(
        rosetta.RosettaError,
        match=rf"backends/numpy_impl/functional.py has no 'softmax_v2' .*the concept table, {table}\)",
    ):
        rosetta.extract("numpy", "functional:softmax_v2")
    with pytest.raises(rosetta.RosettaError, match=rf"backends/torch_impl/nope.py does not exist .*in {table}\)"):
        rosetta.extract("torch", "nope:train")
    with pytest.raises(rosetta.RosettaError, match=rf"train has no line containing 'no such line' .*in {table}\)"):
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


def test_cli_writes_and_checks(fresh, tmp_path, monkeypatch, capsys):
    # the CLI's own build would train again: replace build() where the CLI calls it and where write() does
    for module in (rosetta, rosetta.docs):
        monkeypatch.setattr(module, "build", lambda *a, **k: fresh)
    out = tmp_path / "docs"
    assert main(["rosetta", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["rosetta.html", "rosetta.md"]
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
    assert "<script" not in page and "<link" not in page and "@import" not in page
    for b in rosetta.ORDER:
        assert page.count(f'<div class="col {b}">') == len(fresh.sections)
    assert page.count('<div class="highlight">') == sum(len(s.blocks[b]) for s in fresh.sections for b in rosetta.ORDER)
    (data,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    png = base64.b64decode(data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and _png_size(png)[0] >= 1000


def _png_size(png):
    return struct.unpack(">II", png[16:24])


def _render_script():
    spec = importlib.util.spec_from_file_location("render_rosetta", ROOT / "scripts" / "render_rosetta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Laid out by the browser at 1280 px: three columns side by side, each wide enough to read, code
# that scrolls inside its block instead of widening the page.
LAYOUT_PROBE = """<script>
const cols = [...document.querySelectorAll("section .cols")]
  .map(c => [...c.children].map(k => k.getBoundingClientRect()));
const pres = [...document.querySelectorAll(".highlight pre")];
document.body.insertAdjacentHTML("beforeend", "<pre id='probe'>" + JSON.stringify({
  viewport: window.innerWidth, page: document.documentElement.scrollWidth,
  columns: cols.map(c => c.map(r => [Math.round(r.left), Math.round(r.top), Math.round(r.width)])),
  code_font_px: parseFloat(getComputedStyle(pres[0]).fontSize),
  scrolling_blocks: pres.filter(p => p.scrollWidth > p.clientWidth).length,
  overflow_x: getComputedStyle(pres[0]).overflowX}) + "</pre>");
</script>"""


@pytest.mark.browser
def test_the_page_renders_in_headless_chromium_with_three_readable_columns(tmp_path):
    """The committed page (test_the_committed_docs_are_current says it is the code's)."""
    render = _render_script()
    chromium = render.find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (Debian: apt-get install -y chromium)")
    page = DOCS / "rosetta.html"
    html = page.read_text(encoding="utf-8")

    png = tmp_path / "rosetta-1280.png"
    render.render(page, png, width=1280, height=2000, chromium=chromium)
    assert _png_size(png.read_bytes()) == (1280, 2000)

    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", LAYOUT_PROBE + "\n</body>"), encoding="utf-8")
    with render.fresh_profile() as profile:
        dom = subprocess.run(
            [chromium, *render.flags(profile, 1280, 2000), "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
    assert found, dom[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["viewport"] == 1280 and layout["page"] <= 1280, layout  # no sideways scrolling of the page
    assert layout["columns"] and all(len(c) == 3 for c in layout["columns"])
    for a, b, c in layout["columns"]:
        assert a[1] == b[1] == c[1] and a[0] < b[0] < c[0], layout  # side by side, in order
        assert min(a[2], b[2], c[2]) >= 380, layout  # each column ~ a third of the page
    assert 11 <= layout["code_font_px"] <= 13 and layout["overflow_x"] == "auto", layout
    assert layout["scrolling_blocks"] > 0  # long lines scroll inside their block
