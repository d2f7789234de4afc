"""Bad input through the CLI: one line naming the field and the value, exit status 2, no traceback.

The same table is the README's troubleshooting section: each case here is what a user typed or
wrote in a spec file, and the message they get.
"""

import re
import warnings

import pytest

from softmax_rosetta.spec import SPEC_DIR
from softmax_rosetta.tools.cli import main

SEED = (SPEC_DIR / "seed.toml").read_text()


def _spec(tmp_path, old, new, name="bad.toml"):
    assert re.search(old, SEED, flags=re.M), old
    path = tmp_path / name
    path.write_text(re.sub(old, new, SEED, count=1, flags=re.M))
    return str(path)


SPEC_CASES = [
    # (what, pattern in seed.toml, replacement, message)
    (
        "non-finite feature",
        r"^x_train = \[\[1, 2, 1, 1\]",
        "x_train = [[1, 2, nan, 1]",
        "data.x_train: non-finite value nan at index (0, 2)",
    ),
    (
        "wrong shape",
        r"^x_train = \[\[1, 2, 1, 1\]",
        "x_train = [[1, 2, 1]",
        "data.x_train: rows of different lengths [3, 4]",
    ),
    (
        "empty data set",
        r"^x_train = \[\[1, 2, 1, 1\],[^=]*\]\]\ny_train = \[[^\]]*\]",
        "x_train = []\ny_train = []",
        "data.x_train: the data set is empty",
    ),
    (
        "label out of range",
        r"^y_train = \[2, 2, 2, 1, 1, 1, 0, 0\]",
        "y_train = [2, 2, 2, 1, 1, 1, 0, 3]",
        "data.y_train: label 3 at index 7 is outside [0, 3)",
    ),
    (
        "negative label",
        r"^y_train = \[2, 2, 2, 1, 1, 1, 0, 0\]",
        "y_train = [2, 2, 2, 1, 1, 1, 0, -1]",
        "data.y_train: label -1 at index 7 is outside [0, 3)",
    ),
    ("zero learning rate", r"^lr = 0.1", "lr = 0", "optimizer.lr: must be a finite number > 0, got 0"),
    ("negative epochs", r"^epochs = 1000", "epochs = -1", "optimizer.epochs: must be >= 0, got -1"),
    ("unknown field", r"^lr = 0.1", "lr = 0.1\nlearning_rate = 0.1", "optimizer.learning_rate: unknown field"),
    ("wrong type", r"^lr = 0.1", 'lr = "0.1"', "optimizer.lr: expected int or float, got '0.1'"),
    (
        "nan expected cost",
        r"^costs = \[1.6167852878570557,",
        "costs = [nan,",
        "expected.costs: non-finite value nan at index 0",
    ),
    ("newline in the name", r'^name = "seed"', 'name = "seed\\\\nPASS"', r"name: control character '\n' at position 4"),
    (
        "data beyond float32",
        r"^x_train = \[\[1, 2, 1, 1\]",
        "x_train = [[1, 2, 1e39, 1]",
        "data.x_train: 1e+39 at index (0, 2) overflows float32 (largest 3.4e+38)",
    ),
    (
        "initial weight beyond float32",
        r"^weight = \[\[0.2576315999031067",
        "weight = [[-4e38",
        "init.weight: -4e+38 at index (0, 0) overflows float32 (largest 3.4e+38)",
    ),
    (
        "classes that can't fit in memory",
        r"^out_features = 3",
        "out_features = 100000000000",
        "model.out_features: 100000000000 is too big: the weight (100000000000 x 4 float64) would need 2.9 TiB",
    ),
]


@pytest.mark.parametrize("what,old,new,message", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_bad_spec_file(tmp_path, capsys, what, old, new, message):
    assert main(["train", "numpy", "--spec", _spec(tmp_path, old, new)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("softmax-rosetta: error: "), err
    assert message in err, err
    assert captured.out == ""


ARG_CASES = [
    (["train", "numpy", "--lr", "0"], "argument --lr: must be a finite number > 0, got 0"),
    (["train", "numpy", "--lr", "-0.5"], "argument --lr: must be a finite number > 0, got -0.5"),
    (["train", "numpy", "--epochs", "-1"], "argument --epochs: must be >= 0, got -1"),
    (["train", "numpy", "--dtype", "float16"], "dtype: unknown dtype 'float16'; known: float32, float64"),
    (["train", "numpy", "--device", "cuda"], "device: unknown device 'cuda' for the numpy backend; known: cpu"),
    (["train", "numpy", "--device", "gpu"], "device: unknown device 'gpu' for the numpy backend; known: cpu"),
    (["train", "theano"], "backend: unknown backend 'theano'; known: numpy, torch, jax, mlx"),
    (["train", "numpy", "--spec", "mnist"], "spec: unknown spec 'mnist'; bundled specs: digits, iris, seed, synthetic"),
    (["train", "numpy", "--spec", "nowhere/my.toml"], "spec: no such file 'nowhere/my.toml'"),
    (["train", "numpy", "--lr", "1e-46"], "lr: 1e-46 is 0 in float32 (its smallest positive value is 1.4e-45)"),
    (["train", "numpy", "--lr", "1e39"], "lr: 1e+39 overflows float32 (largest 3.4e+38)"),
    (["train", "numpy", "--epochs", "1000000000000"], "optimizer.epochs: 1000000000000 is too big: the costs"),
    (["compare", "--dtypes", "float32,float32"], "--dtypes: 'float32' is given twice"),
    (["compare", "--backends", "numpy,torch,numpy"], "--backends: 'numpy' is given twice"),
    (["expected", "seed", "--write"], "expected.source: "),
    (["specs", "--copy", "mnist", "my.toml"], "spec: unknown spec 'mnist'"),
    (["specs", "--copy", "iris", "my"], "specs --copy: the new file's name must end in .toml, got 'my'"),
    (["specs", "--copy", "iris", "nowhere/my.toml"], "specs --copy: no such folder 'nowhere'"),
]


@pytest.mark.parametrize("argv,message", ARG_CASES, ids=[" ".join(a[1:]) for a, _ in ARG_CASES])
def test_bad_argument(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the folder stays empty
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert message in err, err
    assert list(tmp_path.iterdir()) == []


def _one_line_error(capsys, argv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning on the way is a failure too
        assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("softmax-rosetta: error: "), err
    assert captured.out == ""
    return err.removeprefix("softmax-rosetta: error: ")


def test_overflowing_data_is_named_before_training_without_warnings(tmp_path, capsys):
    """Not 'diverged ... Try a smaller --lr': the lr isn't the cause, and nothing is trained."""
    bad = _spec(tmp_path, r"^x_train = \[\[1, 2, 1, 1\]", "x_train = [[1, 2, 1e39, 1]")
    assert _one_line_error(capsys, ["train", "numpy", "--spec", bad]).startswith("data.x_train: 1e+39 at index (0, 2)")
    assert main(["train", "numpy", "--spec", bad, "--dtype", "float64", "--epochs", "1"]) == 0  # float64 holds it


def test_spec_files_that_cannot_be_read(tmp_path, capsys):
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(SEED.encode().replace(b"The lesson", b"La le\xe7on"))
    assert "is not UTF-8 text (byte 0xe7 at offset" in _one_line_error(
        capsys, ["train", "numpy", "--spec", str(latin1)]
    )
    deep = tmp_path / "deep.toml"
    deep.write_text("name = " + "[" * 5000 + "]" * 5000 + "\n")
    message = _one_line_error(capsys, ["train", "numpy", "--spec", str(deep)])
    assert message.endswith("deep.toml' nests arrays or tables too deeply to read")
    assert (
        _one_line_error(capsys, ["train", "numpy", "--spec", f"{tmp_path}/"])
        == f"spec: '{tmp_path}/' is a folder, not a spec file"
    )


def test_a_bundled_name_is_not_shadowed_by_the_working_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "iris").mkdir()
    (tmp_path / "seed").write_text("not a spec")
    for name in ("iris", "seed"):
        assert main(["train", "numpy", "--spec", name, "--epochs", "1"]) == 0
        assert "train accuracy" in capsys.readouterr().out
    message = _one_line_error(capsys, ["train", "numpy", "--spec", "./iris"])
    assert message == "spec: './iris' is a folder, not a spec file"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_cuda_without_a_gpu_is_an_error_not_a_fallback(capsys, backend):
    from softmax_rosetta.testing import require_backend

    cls = require_backend(backend)
    if "cuda" in cls.available_devices():
        pytest.skip(f"{backend} sees a GPU here")
    assert main(["train", backend, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"softmax-rosetta: error: device: the {backend} backend can't use 'cuda' on this machine; available: cpu"
    )
