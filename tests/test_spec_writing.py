"""A spec of your own, through the command line, as docs/specs.md ("Writing your own") walks it:
``specs --copy``, an edit, ``expected --write``, ``compare``, and the tolerances in the report.
"""

import json
import re
import shlex
import tomllib
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta import SpecError, available_backends, get_backend, load_spec
from softmax_rosetta.spec import SPEC_DIR
from softmax_rosetta.tools.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "specs.md"


def _walk_commands():
    """The command lines of the step-by-step block in docs/specs.md, in order, comments dropped."""
    text = DOCS.read_text()
    section = text[text.index("### Step by step") :]
    block = re.search(r"```\n(.*?)```", section, flags=re.S).group(1)
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.startswith("softmax-rosetta ")]


def _edit(path):
    """Step 2 as the docs put it: lr = 0.05 and epochs = 200 under [optimizer]."""
    text = path.read_text()
    assert "\nlr = 0.1\n" in text and "\nepochs = 1000\n" in text
    path.write_text(text.replace("\nlr = 0.1\n", "\nlr = 0.05\n").replace("\nepochs = 1000\n", "\nepochs = 200\n"))


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_docs_walk_is_the_one_tested():
    commands = _walk_commands()
    assert [c[:2] for c in commands] == [
        ["softmax-rosetta", "specs"],
        ["softmax-rosetta", "expected"],
        ["softmax-rosetta", "compare"],
    ]
    assert commands[0][2:] == ["--copy", "iris", "my.toml"]
    assert commands[1][2:] == ["my.toml", "--write"]
    assert commands[2][2:] == ["--spec", "my.toml", "--out", "my-report"]


def _copy_and_check(tmp_path, capsys, argv):
    """Step 1: the copy, named after the file, its stale parts marked, the rest as iris has it."""
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert out.startswith("wrote my.toml: a copy of 'iris', named 'my'")
    assert "softmax-rosetta expected my.toml --write (the float64 reference's costs, and the tolerances derived" in out
    path = tmp_path / "my.toml"
    text = path.read_text()
    assert text.startswith("# TO REDO: copied from the iris spec by softmax-rosetta specs --copy.")
    header = " ".join(line.removeprefix("# ") for line in text.split("\n\n")[0].splitlines())
    assert "derives its tolerances ([tolerance.derived.*], what compare checks against)" in header
    spec = load_spec("my.toml")
    iris = load_spec("iris")
    assert spec.name == "my" and spec.expected_costs == () and spec.expected_source == ""
    assert spec.expected_every == iris.expected_every
    for dtype, tol in spec.tolerances.items():
        assert tol.note.startswith(f"TO REDO: these are the iris spec's {dtype} tolerances")
        assert (tol.expected_cost, tol.cost, tol.param, tol.output) == (
            iris.tolerances[dtype].expected_cost,
            iris.tolerances[dtype].cost,
            iris.tolerances[dtype].param,
            iris.tolerances[dtype].output,
        )
    assert np.array_equal(spec.x_train, iris.x_train) and np.array_equal(spec.init_weight, iris.init_weight)
    assert (spec.lr, spec.epochs) == (iris.lr, iris.epochs)
    # iris's own comments are kept
    for line in (SPEC_DIR / "iris.toml").read_text().splitlines():
        if line.startswith("#"):
            assert line in text.splitlines()
    # a second copy onto it is refused, and the file is left as it was
    code, out, err = _run(argv, capsys)
    assert (
        code == 2
        and err.strip() == "softmax-rosetta: error: specs --copy: 'my.toml' already exists; not overwriting it"
    )
    assert path.read_text() == text
    return path


def _expected_and_check(path, capsys, argv):
    """Step 3: the float64 reference costs of the edited spec, where the TO REDO mark was, and (unless
    --no-derive) its derived tolerances, as ``tolerances my.toml --write`` would write them."""
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    text = path.read_text()
    spec = load_spec("my.toml")
    assert (spec.lr, spec.epochs, spec.expected_epochs) == (0.05, 200, (0, 100, 200))
    reference = get_backend("numpy", dtype="float64").train(spec)
    assert np.array_equal(spec.expected_costs, reference.costs[[0, 100, 200]])
    assert spec.expected_source.startswith("softmax-rosetta expected my.toml --write (the NumPy backend in float64")
    assert 'source = "softmax-rosetta expected my.toml --write' in text and "iris's costs were removed" not in text
    if "--no-derive" in argv:
        assert spec.derived_tolerances == {} and "\n[tolerance.derived" not in text
    else:
        from softmax_rosetta.tolerances import derive
        from softmax_rosetta.tools.tolerances_write import source_for

        stored = tomllib.loads(text)["tolerance"]["derived"]
        assert sorted(stored) == ["float32", "float64"]
        for dtype, table in stored.items():
            envelope = derive(spec, dtype)
            assert table == envelope.table(source_for("my.toml", envelope.samples, envelope.seed, envelope.safety))
    # the source's command redoes it: the same file
    assert main([*shlex.split(spec.expected_source.split(" (")[0])[1:], *argv[3:]]) == 0
    assert path.read_text() == text
    capsys.readouterr()


def _compare_and_read_tolerances(tmp_path, capsys, argv, checked):
    """Steps 4 and 5: everything agrees, and the report gives, per check, the difference and the tolerance."""
    code, out, err = _run(argv, capsys)
    assert code == 0, out + err
    report = json.loads((tmp_path / "my-report" / "report.json").read_text())
    assert report["verdict_line"].startswith("PASS") and "spec my," in report["verdict_line"]
    spec = load_spec("my.toml")
    checks = report["checks"]
    assert all(c["passed"] for c in checks) and {c["check"] for c in checks} >= checked
    assert {c["dtype"] for c in checks if c["check"] == "expected"} == {"float32", "float64"}
    field = {"expected": "expected_cost", "costs": "cost", "params": "param"}
    for c in checks:
        if c["check"] in field and c["source"] == "hand-set":
            assert c["tolerance"] == getattr(spec.tolerance(c["dtype"]), field[c["check"]])
        if c["check"] in field:
            assert c["max_abs"] <= c["tolerance"] and c["headroom"] == pytest.approx(c["max_abs"] / c["tolerance"])
    # an edited copy's costs and params are held to the rounding envelope of its own training, which
    # expected --write derived and stored (the copy's own table, fingerprint current), or to its hand-set numbers
    for dtype, used in report["tolerances_used"].items():
        held = [c for c in checks if c["check"] in ("costs", "params") and c["dtype"] == dtype]
        assert all(c["source"] == used["source"] for c in held)
        if used["source"] == "derived":  # expected --write derived the edited spec's own envelopes: stored, current
            assert used["origin"] == "stored", used
    markdown = (tmp_path / "my-report" / "report.md").read_text()
    assert "| check " in markdown and "| tolerance | headroom |" in markdown


def test_copy_edit_expected_compare_with_numpy(tmp_path, monkeypatch, capsys):
    """The walk with the reference backend alone: quick (the derivation, seconds on iris, is left out here:
    tests/test_spec_copy_derived.py and the walk below check it), and every step checked."""
    monkeypatch.chdir(tmp_path)
    copy, expected, compare = (c[1:] for c in _walk_commands())
    path = _copy_and_check(tmp_path, capsys, copy)
    _edit(path)
    _expected_and_check(path, capsys, [*expected, "--no-derive"])
    _compare_and_read_tolerances(tmp_path, capsys, [*compare, "--backends", "numpy", "--no-plots"], {"expected"})


@pytest.mark.slow
def test_the_walk_in_docs_specs_md_with_every_backend(tmp_path, monkeypatch, capsys):
    """The docs' commands exactly as written: compare runs every installed backend."""
    monkeypatch.chdir(tmp_path)
    copy, expected, compare = (c[1:] for c in _walk_commands())
    path = _copy_and_check(tmp_path, capsys, copy)
    _edit(path)
    _expected_and_check(path, capsys, expected)
    # with one backend installed (the NumPy-only set-up) there is no pair: only the expected costs
    pairs = {"costs", "params"} if len(available_backends()) > 1 else set()
    _compare_and_read_tolerances(tmp_path, capsys, compare, {"expected", *pairs})


def test_copy_of_the_seed_clears_the_lessons_costs_so_expected_may_write(tmp_path, monkeypatch, capsys):
    """The seed's costs are the lesson's printout, never overwritten in the seed; its copy's are the copy's."""
    monkeypatch.chdir(tmp_path)
    assert main(["specs", "--copy", "seed", "lesson.toml"]) == 0
    text = (tmp_path / "lesson.toml").read_text()
    raw = tomllib.loads(text)
    assert raw["name"] == "lesson" and raw["expected"]["source"] == "" and raw["expected"]["costs"] == []
    assert raw["data"] == tomllib.loads((SPEC_DIR / "seed.toml").read_text())["data"]
    (tmp_path / "lesson.toml").write_text(text.replace("epochs = 1000", "epochs = 10"))
    assert main(["expected", "lesson.toml", "--write"]) == 0
    assert load_spec("lesson.toml").expected_epochs == (0,) + tuple(range(1, 11))  # every 100 > 10 epochs: a tenth


def test_copy_from_a_path_and_into_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    assert main(["specs", "--copy", "iris", "specs/first.toml"]) == 0
    assert main(["specs", "--copy", "specs/first.toml", "specs/second.toml"]) == 0
    second = load_spec("specs/second.toml")
    assert second.name == "second" and second.description.startswith("copied from the first spec: ")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["specs", "--copy", "iris", "my"], "specs --copy: the new file's name must end in .toml, got 'my'"),
        (
            ["specs", "--copy", "iris", "a\nb.toml"],
            r"specs --copy: the new file's path 'a\nb.toml' has the character '\n' at position 1",
        ),
        (["specs", "--copy", "iris", "nowhere/my.toml"], "specs --copy: no such folder 'nowhere'"),
        (["specs", "--copy", "iris", "iris.toml"], "specs --copy: 'iris.toml' already exists; not overwriting it"),
        (["specs", "--copy", "mnist", "my.toml"], "spec: unknown spec 'mnist'; bundled specs: "),
    ],
)
def test_copy_refusals_are_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "iris.toml").write_text("mine")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"softmax-rosetta: error: {message}") and "\n" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.toml"]
    assert (tmp_path / "iris.toml").read_text() == "mine"


def test_copy_spec_in_python(tmp_path):
    from softmax_rosetta.tools.spec_copy import copy_spec

    assert copy_spec("digits", str(tmp_path / "d2.toml")) == "d2"
    assert load_spec(tmp_path / "d2.toml").num_features == 64
    with pytest.raises(SpecError, match="already exists"):
        copy_spec("digits", str(tmp_path / "d2.toml"))


# --- expected --write keeps the user's file: line endings, mode, owner, symbolic links -----------------


def _lesson_copy(tmp_path, monkeypatch, name="lesson.toml"):
    """The seed copied and cut to 10 epochs: a spec whose expected costs --write may fill in, quickly."""
    monkeypatch.chdir(tmp_path)
    assert main(["specs", "--copy", "seed", name]) == 0
    path = tmp_path / name
    path.write_text(path.read_text().replace("epochs = 1000", "epochs = 10"))
    return path


def test_expected_write_keeps_crlf_line_endings(tmp_path, monkeypatch, capsys):
    """The same file in LF and in CRLF: the same edit, each in its own line endings."""
    written = {}
    for endings in ("lf", "crlf"):
        (tmp_path / endings).mkdir()
        path = _lesson_copy(tmp_path / endings, monkeypatch)
        if endings == "crlf":
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
        written[endings] = path.read_bytes()
    assert b"\r" not in written["lf"] and b"\n" not in written["crlf"].replace(b"\r\n", b"")  # CRLF throughout
    assert written["crlf"] == written["lf"].replace(b"\n", b"\r\n")
    assert len(load_spec(tmp_path / "crlf" / "lesson.toml").expected_costs) == 11


def test_expected_write_in_a_file_of_mixed_line_endings_keeps_each_untouched_line(tmp_path, monkeypatch, capsys):
    """Mixed: the lines not rewritten keep their own ending (here the first line's CRLF); written lines end in LF."""
    path = _lesson_copy(tmp_path, monkeypatch)
    lines = path.read_bytes().split(b"\n")
    mixed = b"\r\n".join(lines[:3]) + b"\n" + b"\n".join(lines[3:])
    path.write_bytes(mixed)
    assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
    after = path.read_bytes()
    assert after.startswith(b"\r\n".join(lines[:3]) + b"\n")
    assert b'\nsource = "softmax-rosetta expected lesson.toml --write' in after
    assert after.count(b"\r\n") == 2 and len(load_spec(path).expected_costs) == 11


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o444])
def test_expected_write_keeps_the_files_mode(tmp_path, monkeypatch, capsys, mode):
    """A file only its owner may read stays so; 444 too (the folder is what a rename needs, as for an editor)."""
    path = _lesson_copy(tmp_path, monkeypatch)
    path.chmod(mode)
    assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
    assert path.stat().st_mode & 0o7777 == mode and len(load_spec(path).expected_costs) == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesson.toml"]  # no temporary file left


def test_expected_write_keeps_the_files_owner_where_it_may(tmp_path, monkeypatch, capsys):
    import os

    path = _lesson_copy(tmp_path, monkeypatch)
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root: here a file keeps the owner it has anyway")
    os.chown(path, 65534, 65534)
    assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)


@pytest.mark.parametrize("how", ["relative", "absolute", "a chain of two", "into another folder"])
def test_expected_write_through_a_symbolic_link_updates_its_target(tmp_path, monkeypatch, capsys, how):
    import os

    path = _lesson_copy(tmp_path, monkeypatch, name="real.toml")
    (tmp_path / "links").mkdir()
    if how == "relative":
        link = tmp_path / "lesson.toml"
        link.symlink_to("real.toml")
    elif how == "absolute":
        link = tmp_path / "lesson.toml"
        link.symlink_to(path)
    elif how == "a chain of two":
        (tmp_path / "middle.toml").symlink_to("real.toml")
        link = tmp_path / "links" / "lesson.toml"
        link.symlink_to("../middle.toml")
    else:
        link = tmp_path / "links" / "lesson.toml"
        link.symlink_to("../real.toml")
    path.chmod(0o600)
    before = {p: os.readlink(p) for p in tmp_path.rglob("*") if p.is_symlink()}
    assert main(["expected", str(link), "--write"]) == 0, capsys.readouterr().err
    assert {p: os.readlink(p) for p in tmp_path.rglob("*") if p.is_symlink()} == before  # links stay links
    assert len(load_spec(path).expected_costs) == 11 and path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*") if not p.is_symlink()) == ["links", "real.toml"]


# --- expected --write rewrites the comment that says where the costs come from, and no other -----------

NOTE = "# The float64 NumPy reference's costs at epochs 0, 1, ..., 10 (source: the command that wrote them)."


def _comments(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_expected_write_on_a_copy_of_the_seed_no_longer_says_the_costs_are_torchs_printout(
    tmp_path, monkeypatch, capsys
):
    path = _lesson_copy(tmp_path, monkeypatch)
    before = path.read_text()
    lesson = "# The costs the lesson prints at epochs 0, 100, ..., 1000 (float32, PyTorch, as printed)."
    assert f"[expected]\n{lesson}\nevery = 100\n" in before
    assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
    after = path.read_text()
    assert f"[expected]\n{NOTE}\nevery = 1\n" in after and "PyTorch, as printed" not in after
    # every other comment as it was (the TO REDO mark on source is done with, as before)
    assert [c for c in _comments(after) if c != NOTE] == [
        c for c in _comments(before) if c != lesson and "seed's costs were removed" not in c
    ]
    assert main(["expected", "lesson.toml", "--write"]) == 0  # again: the same file
    assert path.read_text() == after


# [expected] as a user may have laid it out (the part after it is the seed copy's own) -> as it is written
LAYOUTS = {
    "two lines under the header: the first is rewritten, the second removed": (
        "[expected]\n  # from my notebook, run 3\n# float32 on my laptop\nevery = 2\n",
        f"[expected]\n  {NOTE.replace('0, 1, ', '0, 2, ')}\nevery = 2\n",
    ),
    "a blank line between the header and the comment: not the command's": (
        "[expected]\n\n# from my notebook\nevery = 2\n",
        "[expected]\n\n# from my notebook\nevery = 2\n",
    ),
    "a comment above the header, one on its line, one after a key, a key's own: kept": (
        "# about expected\n[expected] # header comment\nevery = 2 # every other epoch\n# after a key\n",
        "# about expected\n[expected] # header comment\nevery = 2 # every other epoch\n# after a key\n",
    ),
    "no comment under the header: none is added": ("[expected]\nevery = 2\n", "[expected]\nevery = 2\n"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_expected_write_owns_the_comment_lines_directly_under_the_header_alone(tmp_path, monkeypatch, capsys, layout):
    given, written = LAYOUTS[layout]
    path = _lesson_copy(tmp_path, monkeypatch)
    text = path.read_text()
    start = text.index("[expected]\n")
    end = text.index("source = ", start)
    path.write_text(text[:start] + given + text[end:])
    for crlf in (False, True):  # the same in a file of CRLF line endings
        if crlf:
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
        after = path.read_bytes().decode()
        assert written.replace("\n", "\r\n" if crlf else "\n") in after, after
        assert after.replace("\r\n", "\n")[:start] == text[:start]  # all before [expected] as it was
        assert ("\n" in after.replace("\r\n", "")) is not crlf  # CRLF throughout, or none
        path.write_text(text[:start] + given + text[end:])


def test_expected_write_gives_a_new_expected_table_the_comment(tmp_path, monkeypatch, capsys):
    path = _lesson_copy(tmp_path, monkeypatch)
    text = path.read_text()
    start = text.index("[expected]\n")
    end = text.index("\n\n", start) + 1
    path.write_text(text[:start] + text[end:])
    assert "[expected]" not in path.read_text()
    assert main(["expected", "lesson.toml", "--write"]) == 0, capsys.readouterr().err
    assert f"[expected]\n{NOTE}\nevery = 1\n" in path.read_text()
