"""Bad input through the CLI: one line naming the field and the value, exit status 2, no traceback.

The same table is the README's troubleshooting section: each case here is what a user typed or
wrote in a spec file, and the message they get.
"""

import re

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
    (["train", "theano"], "backend: unknown backend 'theano'; known: numpy, torch, jax"),
    (["train", "numpy", "--spec", "mnist"], "spec: unknown spec 'mnist'; bundled specs: digits, iris, seed, synthetic"),
    (["train", "numpy", "--spec", "nowhere/my.toml"], "spec: no such file 'nowhere/my.toml'"),
]


@pytest.mark.parametrize("argv,message", ARG_CASES, ids=[" ".join(a[1:]) for a, _ in ARG_CASES])
def test_bad_argument(capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert message in err, err


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
