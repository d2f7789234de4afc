"""A copied and edited spec gets derived tolerances, with no hand-tuning: ``specs --copy`` drops the source's
``[tolerance.derived.*]`` (they were derived for its workload), and ``expected FILE --write`` derives the
edited spec's, written with its costs in one replace of the file (tools/expected.py, tools/tolerances_write.py).
"""

import os
import tomllib

import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.envelopes import stored
from softmax_rosetta.spec import SPEC_DIR
from softmax_rosetta.tolerances import derive
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.expected import rederives, uses_hand_set
from softmax_rosetta.tools.spec_copy import _copied
from softmax_rosetta.tools.tolerances_write import source_for

PREFIX = "softmax-rosetta: error: "


def _copy(tmp_path, monkeypatch, source="seed", name="my.toml", **edits):
    """``specs --copy SOURCE NAME`` in tmp_path, then each ``key = old`` line set to ``key = new`` (edits)."""
    monkeypatch.chdir(tmp_path)
    assert main(["specs", "--copy", source, name]) == 0
    path = tmp_path / name
    _set(path, **edits)
    return path


def _set(path, **edits):
    text = path.read_text()
    for key, value in edits.items():
        lines = [line for line in text.splitlines() if line.startswith(f"{key} = ")]
        assert len(lines) == 1, (key, lines)
        text = text.replace(lines[0] + "\n", f"{key} = {value}\n")
    path.write_text(text)


def _derived_as_written(path, given):
    """What the file should hold: ``derive(the spec as written, dtype).table(...)`` for both dtypes."""
    spec = load_spec(path)
    out = {}
    for dtype in ("float32", "float64"):
        envelope = derive(spec, dtype)
        out[dtype] = envelope.table(source_for(given, envelope.samples, envelope.seed, envelope.safety))
    return out


# the edit of the issue (iris with lr 0.3), and the same walk on the seed, quick
EDITS = [
    pytest.param("seed", {"lr": "0.3", "epochs": "10"}, {"lr": "0.05"}, id="seed, lr 0.3, 10 epochs"),
    pytest.param("iris", {"lr": "0.3"}, {"lr": "0.2", "epochs": "500"}, id="iris, lr 0.3", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("source,edit,again", EDITS)
def test_copy_edit_expected_write_derives_the_edited_specs_tolerances(
    tmp_path, monkeypatch, capsys, source, edit, again
):
    """copy -> edit -> expected --write: the file's derived tables are derive(edited spec).table(), written after
    the costs; everything else is byte for byte what --no-derive writes; a second --write replaces them in place."""
    path = _copy(tmp_path, monkeypatch, source, **edit)
    twin = _copy(tmp_path, monkeypatch, source, name="twin.toml", **edit)
    assert main(["expected", "my.toml", "--write"]) == 0
    err = capsys.readouterr().err
    every = load_spec(path).expected_every
    count = len(load_spec(path).expected_costs)
    epochs = "every epoch" if every == 1 else f"every {every} epochs"
    assert err == (
        f"written into my.toml: [expected] ({count} costs, {epochs}) and [tolerance.derived.float32] and "
        "[tolerance.derived.float64] (32 perturbed runs, seed 0; softmax-rosetta tolerances my.toml prints them)\n"
    )
    text = path.read_text()
    assert tomllib.loads(text)["tolerance"]["derived"] == _derived_as_written(path, "my.toml")
    # byte for byte outside the derived tables: the costs alone, as --no-derive writes them, then the tables
    _costs_then_tables(text, twin)
    # the tables are those ``tolerances my.toml --write`` writes (their source): the same file
    assert main(["tolerances", "my.toml", "--write"]) == 0 and path.read_text() == text
    # edited again, written again: the tables replaced in place (still after the costs), derived for the new edit
    _set(path, **again)
    _set(twin, **again)
    assert main(["expected", "my.toml", "--write"]) == 0
    after = path.read_text()
    _costs_then_tables(after, twin)
    assert after.count("[tolerance.derived.float32]") == 1 and after.count("[tolerance.derived.float64]") == 1
    assert tomllib.loads(after)["tolerance"]["derived"] == _derived_as_written(path, "my.toml")
    assert load_spec(path).derived_tolerances["float32"].cost_epochs[-1] == load_spec(path).epochs


def test_expected_write_keeps_crlf_mode_and_links_with_the_derived_tables(tmp_path, monkeypatch, capsys):
    """The one replace of the file keeps its line endings, its mode, and a symbolic link (written through)."""
    lf = _copy(tmp_path, monkeypatch, epochs="10")
    (tmp_path / "crlf").mkdir()
    target = tmp_path / "crlf" / "real.toml"
    target.write_bytes(lf.read_bytes().replace(b"\n", b"\r\n"))
    target.chmod(0o640)
    link = tmp_path / "link.toml"
    link.symlink_to("crlf/real.toml")
    assert main(["expected", "my.toml", "--write"]) == 0
    assert main(["expected", "link.toml", "--write"]) == 0, capsys.readouterr().err
    assert link.is_symlink() and os.readlink(link) == "crlf/real.toml" and target.stat().st_mode & 0o777 == 0o640
    raw = target.read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF throughout
    # the same edit as in the LF file, but for the sources, which name the spec as given
    assert raw.decode().replace("\r\n", "\n").replace("link.toml --write", "my.toml --write") == lf.read_text()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["crlf", "link.toml", "my.toml", "real.toml"]


def _costs_then_tables(text, twin):
    """``text`` is the twin's file after ``expected --write --no-derive``, then the two derived tables."""
    assert main(["expected", twin.name, "--write", "--no-derive"]) == 0
    alone = twin.read_text().replace("twin", "my")
    assert text.startswith(alone) and text[len(alone) :].startswith("\n[tolerance.derived.float32]\n")
    assert text.index("[tolerance.derived.float32]") < text.index("[tolerance.derived.float64]")


# --- bad inputs: one line, exit 2, the file untouched -----------------------------------------------------

BAD = [
    (
        "a float64 reference that diverges (lr 1e300)",
        {"lr": "1e300"},
        ["--write"],
        "optimizer.lr: the float64 reference of 'my' diverges at epoch 1 (its cost, or a perturbed run's, turns inf "
        "or nan): no rounding envelope for a run that blows up",
    ),
    ("a negative lr", {"lr": "-0.1"}, ["--write"], "optimizer.lr: "),
    ("--no-derive without --write", {}, ["--no-derive"], "--no-derive: only with --write (without it nothing is"),
    (
        "[tolerance] an inline table: no place for the derived tables",
        {"tolerance": "inline"},
        ["--write"],
        "expected: can't write into 'my.toml' keeping its layout: tomlkit can't edit it ([tolerance] is not a "
        "table); the file is unchanged (--no-derive writes the costs alone)",
    ),
]


def _inline_tolerance(path):
    """The spec with its [tolerance.*] tables (the file's last) as one inline table near the top, notes left out."""
    text = path.read_text()
    raw = tomllib.loads(text)["tolerance"]
    inline = ", ".join(
        f"{dtype} = {{ " + ", ".join(f"{k} = {v!r}" for k, v in t.items() if k != "note") + " }"
        for dtype, t in raw.items()
    )
    text = text[: text.index("[tolerance.float32]")]
    at = text.index("\n", text.index("\ndescription = ") + 1) + 1
    path.write_text(text[:at] + f"tolerance = {{ {inline} }}\n" + text[at:])


@pytest.mark.parametrize("edit,argv,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_leaves_the_file(tmp_path, monkeypatch, capsys, edit, argv, message):
    edit = {"epochs": "10", **edit}
    inline = edit.pop("tolerance", None)
    path = _copy(tmp_path, monkeypatch, **edit)
    if inline:
        _inline_tolerance(path)
        assert sorted(load_spec(path).tolerances) == ["float32", "float64"]  # a spec that loads
    before = path.read_bytes()
    capsys.readouterr()
    code = main(["expected", "my.toml", *argv])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and err.startswith(PREFIX + message) and "\n" not in err, err
    assert path.read_bytes() == before
    # refused before anything is printed; the layout, only once the costs (printed) are being written
    assert (captured.out == "") is (inline is None), captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my.toml"]  # no temporary file left


def test_an_edit_that_does_not_read_back_leaves_the_file(tmp_path, monkeypatch, capsys):
    """The derived tables' edit is checked with the costs': a wrong one is refused, the file as it was."""
    from softmax_rosetta.tools import tolerances_write

    path = _copy(tmp_path, monkeypatch, epochs="10")
    before = path.read_bytes()
    real = tolerances_write.edit_derived
    monkeypatch.setattr(tolerances_write, "edit_derived", lambda *a: real(*a).replace("lr = 0.1", "lr = 0.2"))
    assert main(["expected", "my.toml", "--write"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.endswith(
            "the edited file would read back differently; the file is unchanged (--no-derive writes the costs alone)"
        )
        and "\n" not in err
    )
    assert path.read_bytes() == before


# --- skipping the derivation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,no_derive,derives",
    [
        ({"tolerance": {"float32": {}}}, False, True),
        ({"tolerance": {"use": "derived"}}, False, True),
        ({"tolerance": {"use": "hand-set"}}, False, False),
        ({"tolerance": {"float32": {}}}, True, False),
        ({"tolerance": "not a table"}, False, True),  # the loader names the field; nothing is skipped for it
    ],
)
def test_what_expected_write_derives(raw, no_derive, derives):
    assert rederives(raw, no_derive) is derives
    assert uses_hand_set(raw) is (raw["tolerance"] == {"use": "hand-set"})


def test_no_derive_writes_the_costs_and_leaves_the_derived_tables(tmp_path, monkeypatch, capsys):
    path = _copy(tmp_path, monkeypatch, epochs="10")
    assert main(["tolerances", "my.toml", "--write", "--samples", "4"]) == 0
    tables = tomllib.loads(path.read_text())["tolerance"]["derived"]
    _set(path, lr="0.05")
    capsys.readouterr()
    assert main(["expected", "my.toml", "--write", "--no-derive"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "written into my.toml: [expected] (11 costs, every epoch); no tolerances derived (--no-derive); its "
        "[tolerance.derived.*] are left as they were (after a change to the spec, softmax-rosetta tolerances "
        "my.toml --write derives them again)\n"
    )
    assert tomllib.loads(path.read_text())["tolerance"]["derived"] == tables
    assert len(load_spec(path).expected_costs) == 11


def test_tolerances_derives_again_after_an_edit_of_the_epochs(tmp_path, monkeypatch, capsys):
    """The stored tables, derived for 10 epochs, are stale at 20: expected --write --no-derive keeps them as they
    are (compare would derive the envelopes now, and say so); tolerances --write derives them again."""
    path = _copy(tmp_path, monkeypatch, epochs="10")
    assert main(["expected", "my.toml", "--write"]) == 0
    _set(path, epochs="20")
    tables = path.read_text().split("\n[tolerance.derived.", 1)[1]
    assert main(["expected", "my.toml", "--write", "--no-derive"]) == 0
    assert path.read_text().split("\n[tolerance.derived.", 1)[1] == tables  # left as they were
    table, why = stored(load_spec(path), "float32")
    assert table is None and "stale" in why
    assert main(["tolerances", "my.toml", "--write", "--samples", "4"]) == 0
    assert load_spec(path).derived_tolerances["float64"].cost_epochs == tuple(range(21))  # every 1, as [expected]
    assert stored(load_spec(path), "float64")[0] is not None  # current again


# --- specs --copy: the source's derived tables are not the copy's -------------------------------------------


def test_copy_drops_the_derived_tables_and_says_so(tmp_path, monkeypatch, capsys):
    source = _copy(tmp_path, monkeypatch, name="source.toml", epochs="10")
    plain = source.read_text()
    assert main(["tolerances", "source.toml", "--write", "--samples", "4"]) == 0
    assert main(["specs", "--copy", "source.toml", "my.toml"]) == 0
    out = capsys.readouterr().out
    assert "then softmax-rosetta expected my.toml --write (the float64 reference's costs, and the tolerances" in out
    text = (tmp_path / "my.toml").read_text()
    assert "\n[tolerance.derived" not in text and load_spec("my.toml").derived_tolerances == {}
    # the copy of the spec with derived tables is the copy of the spec without them, but for the header's word
    without = _copied(plain, "source", tomllib.loads(plain)["description"], "my", "my.toml")
    header, rest = _header(text)
    assert rest == _header(without)[1]
    assert (
        "Its expected costs and derived tolerances were removed: after your edits, softmax-rosetta expected " in header
    )


def _header(text):
    """(the words of the comment specs --copy puts at the top, the text after it)."""
    lines = text.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.rstrip().endswith("own')."))  # wrapped anywhere before
    return " ".join(line.removeprefix("# ").strip() for line in lines[: end + 1]), "".join(lines[end + 1 :])


SEED = (SPEC_DIR / "seed.toml").read_text().split("\n[tolerance.derived.")[0] + "\n"  # its hand-set tables alone
COPIED = [
    # (what the source has under [tolerance], what the copy's header says, what each hand-set note says)
    ("hand-set tables alone", "", "Its expected costs were removed: after your edits", "a fallback: "),
    (
        "and derived tables",
        "\n[tolerance.derived.float32]\nsamples = 32\n",
        "Its expected costs and derived tolerances were removed: after your edits",
        "a fallback: ",
    ),
    (
        'and use = "hand-set"',
        '\n[tolerance]\nuse = "hand-set"\n',
        "Its expected costs were removed (softmax-rosetta expected my.toml --write computes this spec's costs); "
        'its tolerances (hand-set: [tolerance] use = "hand-set")',
        "measure this spec's: softmax-rosetta compare --spec my.toml",
    ),
]


@pytest.mark.parametrize("extra,header,note", [c[1:] for c in COPIED], ids=[c[0] for c in COPIED])
def test_copied_text_says_how_its_tolerances_are_handled(extra, header, note):
    """_copied on the text alone (``use`` is read by the loader of the compare change, not this branch's)."""
    if extra.startswith("\n[tolerance]\n"):  # a [tolerance] table must come before its sub-tables
        given = SEED.replace("[tolerance.float32]", extra.lstrip("\n") + "\n[tolerance.float32]", 1)
    else:
        given = SEED + extra
    text = _copied(given, "seed", "the lesson", "my", "my.toml")
    raw = tomllib.loads(text)
    assert "derived" not in raw["tolerance"]
    assert raw["tolerance"].get("use") == ("hand-set" if "use" in extra else None)
    assert header in _header(text)[0]
    for dtype in ("float32", "float64"):
        assert raw["tolerance"][dtype]["note"].startswith(f"TO REDO: these are the seed spec's {dtype} tolerances")
        assert note in raw["tolerance"][dtype]["note"]
    # everything else as the seed has it
    seed = tomllib.loads(SEED)
    assert {k: raw[k] for k in ("data", "model", "init", "optimizer")} == {
        k: seed[k] for k in ("data", "model", "init", "optimizer")
    }


def test_a_spec_that_uses_hand_set_tolerances_gets_no_derived_tables(tmp_path, monkeypatch, capsys):
    """``[tolerance] use = "hand-set"`` end to end: the loader takes the key, expected --write derives nothing,
    and compare's checks use the hand-set tables."""
    path = _copy(tmp_path, monkeypatch, epochs="10")
    text = path.read_text()
    path.write_text(text.replace("[tolerance.float32]", '[tolerance]\nuse = "hand-set"\n\n[tolerance.float32]', 1))
    capsys.readouterr()
    assert main(["expected", "my.toml", "--write"]) == 0
    assert "no tolerances derived" in capsys.readouterr().err
    spec = load_spec(path)
    assert spec.derived_tolerances == {} and len(spec.expected_costs) == 11
    assert spec.tolerance_source("float32") == spec.tolerance_source("float64") == "hand-set"
