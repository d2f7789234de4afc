"""Bad input to ``softmax-rosetta tolerances``: each row, what the user gave -> the one line they get (exact)
and exit status 2, through ``softmax_rosetta.tools.cli.main``; no traceback, nothing printed on stdout."""

import os
import subprocess

import pytest

from softmax_rosetta.tools.cli import main

PREFIX = "softmax-rosetta: error: "
SUB = "softmax-rosetta tolerances: error: "

CASES = [
    (
        ["nope"],
        PREFIX
        + "spec: unknown spec 'nope'; bundled specs: digits, iris, seed, synthetic (or give a path to a .toml file)",
    ),
    (["{tmp}/missing.toml"], PREFIX + "spec: no such file '{tmp}/missing.toml'"),
    (["{tmp}/broken.toml"], None),  # a spec that isn't TOML: the spec loader's own line (checked below)
    (["seed", "--samples", "0"], SUB + "argument --samples: must be >= 1, got 0 (see --help)"),
    (["seed", "--samples", "-3"], SUB + "argument --samples: must be >= 1, got -3 (see --help)"),
    (["seed", "--samples", "ten"], SUB + "argument --samples: expected an integer, got 'ten' (see --help)"),
    (["seed", "--samples", "1.5"], SUB + "argument --samples: expected an integer, got '1.5' (see --help)"),
    (["seed", "--samples", "5000"], PREFIX + "--samples: at most 4096, got 5000"),
    (["seed", "--dtype", "float16"], PREFIX + "--dtype: unknown dtype 'float16'; known: float32, float64"),
    (["seed", "--dtype", "Float32"], PREFIX + "--dtype: unknown dtype 'Float32'; known: float32, float64"),
    (["seed", "--dtype", ""], PREFIX + "--dtype: unknown dtype ''; known: float32, float64"),
    (["seed", "--dtype", "float32", "--dtype", "float32"], PREFIX + "--dtype: 'float32' is given twice"),
    (["seed", "--seed", "-1"], SUB + "argument --seed: must be >= 0, got -1 (see --help)"),
    (["seed", "--seed", "x"], SUB + "argument --seed: expected an integer, got 'x' (see --help)"),
    (["seed", "--bogus"], "softmax-rosetta: error: unrecognized arguments: --bogus (see --help)"),
]


def _run(argv):
    """main's exit status; argparse's own mistakes exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(("argv", "line"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line(argv, line, capsys, tmp_path):
    (tmp_path / "broken.toml").write_text("name = [\n")
    code = _run(["tolerances", *(a.replace("{tmp}", str(tmp_path)) for a in argv)])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, err
    assert captured.out == ""
    assert "\n" not in err and "Traceback" not in err, err
    if line is None:
        assert err.startswith(PREFIX + "spec:") and "broken.toml" in err, err
    else:
        assert err == line.replace("{tmp}", str(tmp_path))


# --- a spec's [tolerance.derived.*] table, as `tolerances --write` stores it, then edited by hand ---------
W = PREFIX + "tolerance.derived.float32"
FIELDS = (
    "source, samples, seed, safety, softmax, log_softmax, loss:onehot, loss:nll, loss:fused, params, cost_epochs, "
    "cost_envelopes, fingerprint"
)
DERIVED = [
    ("samples", "samples = 0", W + ".samples: must be >= 1, got 0"),
    ("seed", 'seed = "x"', W + ".seed: expected an integer, got 'x'"),
    ("params", "params = -1.0", W + ".params: must be a finite number > 0, got -1.0"),
    ("softmax", "softmax = nan", W + ".softmax: must be a finite number > 0, got nan"),
    ("params", "bogus = 1", W + f".bogus: unknown field; known: {FIELDS}"),
    ("params", "", W + ".params: missing from the spec"),
    ("cost_epochs", "cost_epochs = [0, 1000]", W + ".cost_envelopes: 11 values for 2 cost_epochs"),
    ("cost_epochs", "cost_epochs = []", W + ".cost_epochs: expected a non-empty list, got []"),
    (
        "cost_epochs",
        "cost_epochs = [0, 200, 100, 300, 400, 500, 600, 700, 800, 900, 1000]",
        W + ".cost_epochs: must start at 0 and increase, got [0, 200, 100, 300, 400, 500, 600, 700, 800, 900, 1000]",
    ),
    (
        "cost_envelopes",
        "cost_envelopes = [1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 0.0, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6]",
        W + ".cost_envelopes[5]: must be a finite number > 0, got 0.0",
    ),
    ("cost_envelopes", "", W + ".cost_envelopes: missing from the spec"),
    ("source", "source = 3", W + ".source: expected a string, got 3"),
    ("fingerprint", "fingerprint = 3", W + ".fingerprint: expected a string, got 3"),
    (
        "fingerprint",
        "costs = [1e-6]",  # the older name, beside the new one
        W + ".costs: the older name of cost_envelopes; give one of them",
    ),
]


# a command that loads the whole spec, its stored tables included (tolerances SPEC derives them anew, so it
# may leave them unread): the loader's line, before anything is trained
_LOADS = ["train", "numpy", "--epochs", "1", "--quiet", "--spec"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The seed spec's text with a [tolerance.derived.float32] table written by the command."""
    from softmax_rosetta.spec import SPEC_DIR

    path = tmp_path_factory.mktemp("derived") / "s.toml"
    path.write_text((SPEC_DIR / "seed.toml").read_text())
    assert main(["tolerances", str(path), "--write", "--samples", "2", "--dtype", "float32"]) == 0
    return path.read_text()


@pytest.mark.parametrize(("key", "line", "message"), DERIVED, ids=[line or f"no {key}" for key, line, _ in DERIVED])
def test_bad_derived_table_is_one_line(key, line, message, written, tmp_path, capsys):
    lines = written.split("\n")
    at = next(
        i
        for i, text in enumerate(lines)
        if text.startswith(f"{key} = ") and i > written[: written.index("derived")].count("\n")
    )
    lines[at] = line
    path = tmp_path / "s.toml"
    path.write_text("\n".join(lines))
    capsys.readouterr()
    assert _run(_LOADS + [str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == message, err


def test_derived_table_of_an_unknown_dtype(written, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(written.replace("[tolerance.derived.float32]", "[tolerance.derived.float16]"))
    capsys.readouterr()
    assert _run(_LOADS + [str(path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == W[: -len(".float32")] + ".float16: unknown dtype 'float16'; known: float32, float64"
    )


def test_write_into_a_read_only_folder(written, tmp_path, capsys):
    """The folder can't take the new file: one line naming the option and the path, the file unchanged."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.toml"
    path.write_text(written)
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):  # root: make it immutable instead, where chattr works
        try:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        except FileNotFoundError:
            pass
        if not immutable:
            folder.chmod(0o755)
            pytest.skip("can't make a folder read-only for this user (root, and no chattr +i here)")
    try:
        capsys.readouterr()
        assert _run(["tolerances", str(path), "--write", "--samples", "2"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(PREFIX + f"tolerances --write: can't write into the folder '{folder}': "), err
        assert "\n" not in err
        assert path.read_text() == written
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_write_a_bundled_name_without_a_file(capsys):
    """--write with a spec that is no file: not possible for a bundled name (it has one); a usage line for none."""
    assert _run(["tolerances", "nope", "--write"]) == 2
    assert capsys.readouterr().err.strip().startswith(PREFIX + "spec: unknown spec 'nope'")


def test_a_spec_whose_reference_diverges(tmp_path, capsys):
    from softmax_rosetta.spec import SPEC_DIR

    text = (SPEC_DIR / "seed.toml").read_text().replace("\nlr = 0.1\n", "\nlr = 1e200\n")
    path = tmp_path / "blowup.toml"
    path.write_text(text.replace('name = "seed"', 'name = "blowup"'))
    assert _run(["tolerances", str(path), "--dtype", "float64"]) == 2
    assert capsys.readouterr().err.strip() == (
        PREFIX + "optimizer.lr: the float64 reference of 'blowup' diverges at epoch 1 (its cost, or a perturbed "
        "run's, turns inf or nan): no rounding envelope for a run that blows up"
    )


@pytest.mark.parametrize("value", ['"derive"', '"Derived"', "1", "true", '""'])
def test_a_bad_tolerance_use_is_one_line(value, written, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(written.replace("[tolerance.float32]", f"[tolerance]\nuse = {value}\n\n[tolerance.float32]", 1))
    capsys.readouterr()
    assert _run(_LOADS + [str(path)]) == 2
    shown = {'"derive"': "'derive'", '"Derived"': "'Derived'", "1": "1", "true": "True", '""': "''"}[value]
    assert capsys.readouterr().err.strip() == (
        PREFIX + f"tolerance.use: expected one of 'derived', 'hand-set', got {shown}"
    )


def test_a_table_derived_for_other_epochs_or_written_before_fingerprints_is_read_and_not_used(written, tmp_path):
    """Not an error (the spec was edited after --write): compare derives the envelope again, and says why."""
    from softmax_rosetta import load_spec
    from softmax_rosetta.envelopes import DERIVED_NOW, in_force

    other = written.replace("cost_epochs = [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]",
                            "cost_epochs = [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999]", 1)  # fmt: skip
    old = "\n".join(line for line in written.split("\n") if not line.startswith("fingerprint = "))
    old = old.replace("cost_envelopes = ", "costs = ")  # and the older name of the cost envelopes
    for text, why in (
        (other, "the stored envelope is stale (derived for 999 epochs; the spec trains 1000)"),
        (old, "the stored envelope is unverifiable (its table has no fingerprint: written before fingerprints)"),
    ):
        path = tmp_path / "s.toml"
        path.write_text(text)
        spec = load_spec(path)
        assert spec.tolerance_source("float32") == "derived"
        held = in_force(spec.replace(epochs=20), "float32")  # derived now: quick
        assert held.origin == DERIVED_NOW and "absent" in held.why
        assert stale_reason(spec, "float32") == why


def stale_reason(spec, dtype):
    from softmax_rosetta.envelopes import stored

    return stored(spec, dtype)[1]
