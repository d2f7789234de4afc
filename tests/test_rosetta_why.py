"""The docs' "Why the last digits differ" (tools/rosetta/why.py): its causes demonstrated, and its
check honest both ways: exact on a machine like the one it records, a note (no verdict) elsewhere."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools import rosetta
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.diverge.causes import Explanation
from softmax_rosetta.tools.diverge.first import FirstDifference
from softmax_rosetta.tools.rosetta import why as why_mod
from softmax_rosetta.tools.rosetta.docs import why_region

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _fake(machine="Test CPU (x86_64, fma, 2 CPUs); numpy 9.9"):
    """A section's facts as build_why gives them, made up (no backend runs)."""
    first = FirstDifference(0, 0, "logits", 3, 24, 8.0, 2.4e-07)
    said = Explanation("logits", "a contracted multiply-add (FMA) in the matmul's sums", "reference A; changed B")
    pair = why_mod.PairWhy(
        "torch", "jax", first, said, ((0, 1.2e-07, 1.0), (1000, 3e-08, 1.0)), 1001, 0, (7, 2e-7, 2.0)
    )
    return why_mod.Why(machine, (pair, replace(pair, a="numpy", b="torch", explanation=replace(said, cause=None))))


@pytest.fixture(scope="module")
def page():
    pytest.importorskip("pygments", reason="the HTML page needs pygments")
    built = rosetta.build(numbers=False)
    built.why = _fake()
    return built


def test_the_section_is_in_both_pages_with_its_numbers_and_where_they_were_made(page):
    pages = rosetta.render(page)
    md, html = pages["rosetta.md"], pages["rosetta.html"]
    assert (
        "\n## Why the last digits differ\n" in md
        and "- [Why the last digits differ](#why-the-last-digits-differ)" in md
    )
    assert '<section id="why-the-last-digits-differ">' in html and 'href="#why-the-last-digits-differ"' in html
    for text in (md, html):
        region = why_region(text)
        assert region is not None
        assert why_mod.recorded_machine(region) == page.why.machine
        assert "PyTorch against JAX (float32, spec seed)" in region and "NumPy against PyTorch" in region
        assert "a contracted multiply-add (FMA) in the matmul" in region and "Cause: not identified" in region
        assert "`3` of `24` elements differ, by at most `8` ulps" in region.replace("<code>", "`").replace(
            "</code>", "`"
        )


@pytest.mark.slow
def test_check_is_exact_where_the_section_was_made_and_says_so_elsewhere(page, tmp_path):
    rosetta.write(tmp_path, page)
    assert rosetta.check(tmp_path, page) == []
    md_path = tmp_path / "rosetta.md"
    md = md_path.read_text()

    # the machine it names: one number changed is stale, naming the section and its line
    md_path.write_text(md.replace("by at most `8` ulps", "by at most `9` ulps"))
    (problem,) = rosetta.check(tmp_path, page)
    line = md[: md.index("<!-- why -->")].count("\n") + 1
    assert problem == (
        f"{md_path} is stale: 'Why the last digits differ' (line {line}) records other bits than this machine, "
        "the one it names, gives now"
    )

    # made on another machine: no verdict on its bits, a note that says so
    elsewhere = md.replace(page.why.machine, "Other CPU (aarch64, neon, 8 CPUs); numpy 1.0")
    md_path.write_text(elsewhere.replace("by at most `8` ulps", "by at most `9` ulps"))
    notes: list[str] = []
    assert rosetta.check(tmp_path, page, notes) == []
    assert notes == [
        f"{md_path}: 'Why the last digits differ' was made on Other CPU (aarch64, neon, 8 CPUs); numpy 1.0; "
        f"this one is {page.why.machine}: its bits were not checked here"
    ]
    # ... but the text around the numbers is still checked, and the section must be there
    md_path.write_text(elsewhere.replace("It does not matter for the lesson", "It matters"))
    (problem,) = rosetta.check(tmp_path, page)
    assert "is stale: line" in problem
    start, end = md.index("<!-- why -->"), md.index("<!-- /why -->") + len("<!-- /why -->")
    md_path.write_text(md[:start] + md[end:])
    (problem,) = rosetta.check(tmp_path, page)
    assert "stale" in problem


@pytest.mark.slow
def test_the_cli_prints_the_note_and_passes(page, tmp_path, monkeypatch, capsys):
    rosetta.write(tmp_path, page)
    other = replace(page, why=_fake(machine="Another CPU (x86_64, avx2, 4 CPUs); numpy 2.0"))
    for module in (rosetta, rosetta.docs):
        monkeypatch.setattr(module, "build", lambda *a, **k: other)
    assert main(["rosetta", "--check", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "are current" in captured.out
    # rosetta.md, rosetta.html and ko/rosetta.html (the lesson pages have no such section)
    assert captured.err.count("note: ") == 3
    assert "its bits were not checked here" in captured.err


@pytest.mark.slow
def test_the_committed_section_is_this_machines_when_made_here_and_its_causes_are_demonstrated(trained):
    """Measured now: each named cause reproduces both runs (causes.explain's rule); where this
    machine is the one the committed docs name, their section is exactly what it gives now."""
    for name in ("numpy", "torch", "jax"):
        require_backend(name)
    spec = load_spec("seed")
    costs = {name: trained(name, "lesson", "float32").costs for name in ("numpy", "torch", "jax")}
    fresh = why_mod.build_why(spec, costs)
    for pair in fresh.pairs:
        assert pair.first is not None and pair.explanation is not None
        if pair.explanation.cause is not None:
            assert pair.explanation.reproduces == (pair.a, pair.b)
        assert pair.epochs == spec.epochs + 1 and pair.largest[1] >= max(d for _, d, _ in pair.costs)
        assert np.isfinite(pair.largest[1])
    committed = why_region((DOCS / "rosetta.md").read_text(encoding="utf-8"))
    assert committed is not None
    if why_mod.recorded_machine(committed) == fresh.machine:
        assert committed == rosetta.prose.region("why", why_mod.region_markdown(fresh, spec))
