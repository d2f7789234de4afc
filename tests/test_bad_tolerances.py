"""Bad input to ``softmax-rosetta tolerances``: each row, what the user gave -> the one line they get (exact)
and exit status 2, through ``softmax_rosetta.tools.cli.main``; no traceback, nothing printed on stdout."""

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
