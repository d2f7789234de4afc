"""The README's backend table is conform's (``conform --all --readme README.md``), and ``--check`` says when
the committed one no longer matches a run: rewritten exactly between its markers, compared on every column
but the time."""

import importlib.util
from pathlib import Path

import pytest

from softmax_rosetta import registry
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.conform import readme, render

ROOT = Path(__file__).resolve().parent.parent


def _report(backend, display, passed=42, na=0, declared=0, failed=0, seconds=2.4):
    rows = [render.Row("functional", f"c{i}", "float32", render.PASS) for i in range(passed)]
    rows += [render.Row("functional", f"d{i}", "float32", render.DECLARED, reason="why") for i in range(declared)]
    rows += [render.Row("functional", f"f{i}", "float32", render.FAIL, "off") for i in range(failed)]
    rows += [render.Row("functional", f"n{i}", "float64", render.NA, "no float64 | here") for i in range(na)]
    return render.Report(backend, display, "softmax-rosetta", {}, ["float32"], ["seed"], rows, seconds)


REPORTS = [_report("numpy", "NumPy"), _report("mlx", "MLX", passed=21, na=21, seconds=3.2)]
TABLE = """\
| backend | checks passed | declared deviations | failures | not applicable | time |
|---|---|---|---|---|---|
| NumPy (`numpy`) | 42 of 42 | 0 | 0 | 0 | 2 s |
| MLX (`mlx`) | 21 of 21 | 0 | 0 | 21: every float64 check: no float64 \\| here | 3 s |
"""
BEFORE = "# Title\n\nText before.\n\n<!-- conform -->\n"
AFTER = "<!-- /conform -->\n\nText after, kept.\n"


def test_the_table_is_written_exactly_between_the_markers_and_again_the_same():
    old = BEFORE + "| a pasted | table |\n|---|---|\n| x | y |\n" + AFTER
    once = readme.rewrite(old, REPORTS)
    assert once == BEFORE + TABLE + AFTER
    assert readme.rewrite(once, REPORTS) == once
    crlf = old.replace("\n", "\r\n")
    assert readme.rewrite(crlf, REPORTS) == (BEFORE + TABLE + AFTER).replace("\n", "\r\n")


def test_the_check_passes_a_current_table_whatever_its_times():
    assert readme.stale(TABLE, REPORTS) == []
    assert readme.stale(TABLE.replace("| 2 s |", "| 187 s |"), REPORTS) == []


def test_the_check_catches_a_wrong_count_in_one_line():
    problems = readme.stale(TABLE.replace("21 of 21", "20 of 21"), REPORTS, "README.md")
    assert problems == ["README.md: MLX (`mlx`), checks passed: the table says '20 of 21', conform measured '21 of 21'"]
    (reason,) = readme.stale(TABLE.replace("no float64", "no float32"), REPORTS)
    assert "not applicable" in reason


def test_the_check_catches_a_missing_backend_and_a_changed_column():
    (problem,) = readme.stale(TABLE, REPORTS[:1], "README.md")
    assert (
        problem == "README.md: the table's backends are NumPy (`numpy`), MLX (`mlx`); conform measured NumPy (`numpy`)"
    )
    (problem,) = readme.stale(TABLE.replace("| failures |", "| errors |"), REPORTS)
    assert "columns are" in problem and "errors" in problem


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("# no markers\n", "no <!-- conform --> and <!-- /conform --> line"),
        ("<!-- conform -->\n| x |\n", "no <!-- /conform --> line"),
        ("<!-- /conform -->\n<!-- conform -->\n", "comes before"),
        ("<!-- conform -->\n<!-- /conform -->\n<!-- conform -->\n", "once"),
    ],
)
def test_markers_missing_or_broken_are_one_line(tmp_path, capsys, text, cause):
    """Said before any backend runs: the command fails at once, not after minutes of checks."""
    path = tmp_path / "README.md"
    path.write_text(text)
    assert main(["conform", "numpy", "--readme", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and cause in err and err.startswith(f"softmax-rosetta: error: conform: --readme {path}")
    assert path.read_text() == text


def test_the_committed_readme_holds_conforms_table_of_the_built_in_backends():
    before, table, after = readme.read(str(ROOT / "README.md"))
    lines = table.splitlines()
    assert "\n".join(lines[:2]) == render.SUMMARY_HEADER
    names = [line.split("|")[1].strip() for line in lines[2:]]
    assert names == [f"{registry.declared_text(n, 'display_name')} (`{n}`)" for n in registry.BUILT_IN_ORDER]


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["conform"], "conform: name a backend"),
        (["conform", "--all", "numpy"], "--all or backend names"),
        (["conform", "numpy", "--check"], "--check checks the table in a --readme FILE"),
        (["conform", "numpy", "numpy"], "'numpy' is given twice"),
        (["conform", "numpy", "nonesuch"], "unknown backend 'nonesuch'; installed: numpy"),
        (["conform", "--all", "--json", "x.json"], "--json writes one backend's matrix"),
        (["conform", "numpy", "--readme", "/nonexistent/README.md"], "/nonexistent/README.md: no such file"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, cause):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and cause in err, err


def test_a_backend_not_installed_is_one_line_naming_its_extra(monkeypatch, capsys):
    ghost = registry.BackendInfo("ghost", "ghost_module", "Ghost", ("no_such_framework_xyz",), "ghost")
    monkeypatch.setitem(registry.BACKENDS, "ghost", ghost)
    assert main(["conform", "ghost"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "softmax-rosetta: error: conform: not installed: ghost needs no_such_framework_xyz: "
        "pip install 'softmax-rosetta[ghost]'\n"
    )
    assert main(["conform", "--all", "--readme", str(ROOT / "README.md"), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(--all: the table would leave them out): " in err
    assert "ghost needs no_such_framework_xyz: pip install 'softmax-rosetta[ghost]'" in err


def test_a_real_run_writes_the_table_and_checks_it(tmp_path, capsys):
    """numpy, the seed spec, float64: the real command writes its row, finds it current, then finds a count
    changed by hand."""
    path = tmp_path / "README.md"
    path.write_text(BEFORE + AFTER)
    argv = ["conform", "numpy", "--quick", "--dtypes", "float64", "--readme", str(path)]
    assert main(argv) == 0
    written = path.read_text()
    (row,) = [line for line in written.splitlines() if line.startswith("| NumPy")]
    out = capsys.readouterr().out
    assert row in out and written.startswith(BEFORE) and written.endswith(AFTER)
    passed, of = row.split("|")[2].strip().split(" of ")
    assert int(passed) == int(of) > 0

    assert main([*argv, "--check"]) == 0
    assert "is current (times aside)" in capsys.readouterr().err
    path.write_text(written.replace(f"| {passed} of {of} |", f"| {int(passed) - 1} of {of} |"))
    assert main([*argv, "--check"]) == 1
    err = capsys.readouterr().err.splitlines()
    stale = [line for line in err if "the table says" in line]
    assert stale == [
        f"softmax-rosetta: {path}: NumPy (`numpy`), checks passed: the table says "
        f"'{int(passed) - 1} of {of}', conform measured '{passed} of {of}'"
    ]
    assert err[-1].endswith(
        f"regenerate it with: softmax-rosetta conform numpy --quick --dtypes float64 --readme {path}"
    )


def test_the_not_applicable_cell_names_each_reason():
    report = _report("numpy", "NumPy", passed=3)
    report.rows += [
        render.Row("variants", "variant:compiled", dtype, render.NA, "needs numba") for dtype in ("float32", "float64")
    ]
    assert render.not_applicable(report) == (
        "2: `variant:compiled` in float32: needs numba; `variant:compiled` in float64: needs numba"
    )
    assert render.not_applicable(_report("numpy", "NumPy")) == "0"


@pytest.mark.slow
def test_the_committed_numpy_row_is_what_conform_measures(tmp_path, capsys):
    """The README's NumPy row, checked by the real command on every bundled spec (CI checks all four rows with
    ``conform --all --readme README.md --check``)."""
    if registry.missing_packages("numpy") or importlib.util.find_spec("numba") is None:
        pytest.skip("the README's NumPy row counts the compiled variant, which needs numba (pip install '.[numba]')")
    before, table, after = readme.read(str(ROOT / "README.md"))
    numpy_row = [line for line in table.splitlines() if "(`numpy`)" in line]
    path = tmp_path / "README.md"
    path.write_text(before + render.SUMMARY_HEADER + "\n" + "\n".join(numpy_row) + "\n" + after)
    assert main(["conform", "numpy", "--readme", str(path), "--check"]) == 0, capsys.readouterr().err
