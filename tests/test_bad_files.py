"""Bad files and paths given to the newer commands: ``train --save``, ``predict``, ``expected --write`` and
``specs --copy``. Each row: what the user gave -> the one line they get (exact) and the exit status,
through ``softmax_rosetta.tools.cli.main``; and nothing the user owns is touched.
"""

import os
import subprocess

import numpy as np
import pytest

from softmax_rosetta.models import save_model
from softmax_rosetta.testing import require_dtype
from softmax_rosetta.tools.cli import main

PREFIX = "softmax-rosetta: error: "


def _files(folder):
    """Every path under ``folder`` with its bytes (links as where they lead): what must not change."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p)] = ("link", os.readlink(p))
        elif p.is_file():
            out[str(p)] = p.read_bytes()
    return out


def _one_line(capsys, argv, status=2):
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == status, err
    assert "\n" not in err and "Traceback" not in err, err
    return captured.out, err


@pytest.fixture
def read_only(tmp_path):
    """A folder this process can't write into: mode 555, or (root writes anyway) immutable (chattr +i)."""
    from softmax_rosetta.tools.spec_copy import copy_spec

    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"an older model")
    copy_spec("seed", str(folder / "lesson.toml"))  # a spec expected --write could fill in
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        try:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        except FileNotFoundError:
            pass
        if not immutable:
            pytest.skip("can't make a folder read-only for this user (root, and no chattr +i here)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


# --- train --save: refused before training, in one line; an existing file is kept -----------------------

SAVE_CASES = [
    ("empty", lambda t: "", "--save '': empty path; give a file name such as model.safetensors"),
    ("a folder", lambda t: str(t), "--save {t}: is a folder; give a file name such as {t}/model.safetensors"),
    (
        "a link to a folder",
        lambda t: _link(t / "here", "."),
        "--save {t}/here: is a folder; give a file name such as {t}/here/model.safetensors",
    ),
    (
        "no such folder",
        lambda t: f"{t}/nowhere/model.safetensors",
        "--save {t}/nowhere/model.safetensors: no such folder '{t}/nowhere'",
    ),
    (
        "a file for a folder",
        lambda t: f"{t}/x.csv/model.safetensors",
        "--save {t}/x.csv/model.safetensors: no such folder '{t}/x.csv'",
    ),
    (
        "a dangling symbolic link",
        lambda t: _link(t / "m.safetensors", "gone/model.safetensors"),
        "--save {t}/m.safetensors: is a symbolic link to 'gone/model.safetensors', which does not exist",
    ),
    (
        "a symbolic link into a read-only folder",
        lambda t: _link(t / "m.safetensors", "read-only/model.safetensors", read_only=True),
        "--save {t}/m.safetensors: can't write in folder '{t}/read-only' ({why})",
    ),
    (
        "a read-only folder",
        lambda t: _ro(t) + "/model.safetensors",
        "--save {t}/read-only/model.safetensors: can't write in folder '{t}/read-only' ({why})",
    ),
    (
        "a newline in the path",
        lambda t: f"{t}/no\nwhere/m.safetensors",
        "--save {t}/no\\nwhere/m.safetensors: no such folder '{t}/no\\\\nwhere'",
    ),
]


def _link(link, to, read_only=False):
    os.symlink(to, link)
    return str(link)


def _ro(t):
    return str(t / "read-only")


@pytest.mark.parametrize("make,message", [c[1:] for c in SAVE_CASES], ids=[c[0] for c in SAVE_CASES])
def test_train_save_to_a_bad_place_is_refused_before_training(make, message, tmp_path, capsys, request):
    if "read-only" in message:
        request.getfixturevalue("read_only")
    (tmp_path / "x.csv").write_text("1,2,1,1\n")
    path = make(tmp_path)
    before = _files(tmp_path)
    out, err = _one_line(capsys, ["train", "numpy", "--save", path])
    assert out == ""  # nothing trained: the check comes first
    why = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    assert err == PREFIX + message.format(t=tmp_path, why=why)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("run_file", ["m.safetensors", "./m.safetensors", "link.safetensors"])
def test_train_save_and_save_run_to_one_file_is_refused_before_training(run_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.safetensors").write_bytes(b"an older model")
    os.symlink("m.safetensors", "link.safetensors")
    out, err = _one_line(capsys, ["train", "numpy", "--save", "m.safetensors", "--save-run", run_file])
    assert out == "" and (tmp_path / "m.safetensors").read_bytes() == b"an older model"
    assert err == PREFIX + f"--save-run: {run_file!r} is --save's file too; give each its own file"


def test_train_save_replaces_a_file_only_when_the_run_succeeded(tmp_path, capsys):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"an older model")
    assert main(["train", "numpy", "--save", str(path), "--lr", "1e38", "--quiet"]) == 1  # diverges
    assert "diverged" in capsys.readouterr().err
    assert path.read_bytes() == b"an older model" and os.listdir(tmp_path) == ["model.safetensors"]


# --- predict: rows that can't be answered in the dtype are refused, naming their line ----------------

OVERFLOW = "its logits x W^T + b can overflow float32 (|x| |W|^T + |b| reaches {reach}; the largest float32 is 3.4e+38)"

PREDICT_CASES = [
    (
        "a row of 3e38",
        "1,2,1,1\n3e38,3e38,3e38,3e38\n",
        "line 2: " + OVERFLOW.format(reach="1.88e+39") + "; try --dtype float64",
    ),
    (
        "a row of -3e38 after a header and a comment",
        "f0,f1,f2,f3\n# x\n1,2,1,1\n-3e38,-3e38,-3e38,-3e38\n",
        "line 4: " + OVERFLOW.format(reach="1.88e+39") + "; try --dtype float64",
    ),
    (
        "3e38 and -3e38 mixed",
        "3e38,-3e38,3e38,-3e38\n",
        "line 1: " + OVERFLOW.format(reach="1.88e+39") + "; try --dtype float64",
    ),
    (
        "one cell near the largest float32",
        "1,2,1,1\n1,2,1,1\n0,0,3.4e38,0\n",
        "line 3: " + OVERFLOW.format(reach="8e+38") + "; try --dtype float64",
    ),
    ("an empty cell", "1,2,,1\n", "line 1, column 3: empty cell"),
    ("a trailing comma", "1,2,1,1,\n", "line 1, column 5: empty cell (a comma at the end of the line?)"),
    ("a byte-order mark in the middle", "1,2,1,1\n\ufeff1,2,1,1\n", "line 2, column 1: not a number: '\\ufeff1'"),
    ("an escape code in a cell", "1,2\x1b,1,1\n", "line 1, column 2: not a number: '2\\x1b'"),
]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from softmax_rosetta import get_backend, load_spec

    spec = load_spec("seed")
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_model(path, get_backend("numpy").train(spec), spec=spec)
    return path


@pytest.mark.parametrize("text,message", [c[1:] for c in PREDICT_CASES], ids=[c[0] for c in PREDICT_CASES])
def test_predict_refuses_a_row_it_cant_answer_in_one_line(text, message, backend_name, model_file, tmp_path, capsys):
    """Every backend the same words: the check is made on the host, before any of them runs."""
    x = tmp_path / "x.csv"
    x.write_text(text, encoding="utf-8")
    out, err = _one_line(capsys, ["predict", "--model", str(model_file), "--input", str(x), "--backend", backend_name])
    assert err == f"{PREFIX}--input {x}: {message}" and out == ""


def test_predict_in_float64_answers_what_float32_refuses(backend_name, model_file, tmp_path, capsys):
    """The row of 3e38 in float64: every probability finite, each row summing to 1, the same in every backend."""
    require_dtype(backend_name, "float64")
    x = tmp_path / "x.csv"
    x.write_text("1,2,1,1\n3e38,3e38,3e38,3e38\n-3e38,-3e38,-3e38,-3e38\n3e38,-3e38,3e38,-3e38\n")
    argv = ["predict", "--model", str(model_file), "--input", str(x), "--dtype", "float64", "--backend", backend_name]
    assert main(argv) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()[1:]]
    p = np.array([[float(v) for v in r[2:]] for r in rows])
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1, atol=1e-12)
    from softmax_rosetta.models import load_model

    model = load_model(model_file)
    x = np.array([[1, 2, 1, 1], [3e38] * 4, [-3e38] * 4, [3e38, -3e38, 3e38, -3e38]])
    logits = x @ model.weight.T.astype(np.float64) + model.bias
    assert [int(r[1]) for r in rows] == list(np.argmax(logits, axis=1))  # the classes of the float64 logits


# --- expected --write: a file that can't be replaced is refused before the training run ---------------


EXPECTED_CASES = [
    (
        "in a read-only folder",
        lambda t: "read-only/lesson.toml",
        "expected --write: can't write into the folder 'read-only': {why}",
    ),
    (
        "a link into a read-only folder",
        lambda t: _link(t / "lesson.toml", "read-only/lesson.toml"),
        "expected --write: can't write into the folder '{t}/read-only': {why}",
    ),
    ("a dangling link", lambda t: _link(t / "lesson.toml", "gone.toml"), "spec: no such file '{t}/lesson.toml'"),
]


@pytest.mark.parametrize("make,message", [c[1:] for c in EXPECTED_CASES], ids=[c[0] for c in EXPECTED_CASES])
def test_expected_write_to_a_file_it_cant_replace(make, message, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)
    if "read-only" in message:
        request.getfixturevalue("read_only")
    path = make(tmp_path)
    before = _files(tmp_path)
    out, err = _one_line(capsys, ["expected", path, "--write"])
    why = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    assert err == PREFIX + message.format(t=tmp_path, why=why)
    assert out == "" and _files(tmp_path) == before


# --- specs --copy: a destination that is not a plain file name -------------------------------------------

COPY_CASES = [
    ("a newline in the name", "a\nb.toml", "the new file's path 'a\\nb.toml' has the character '\\n' at position 1"),
    (
        "a newline in the folder",
        "d\nx/my.toml",
        "the new file's path 'd\\nx/my.toml' has the character '\\n' at position 1",
    ),
    ("a carriage return", "my\r.toml", "the new file's path 'my\\r.toml' has the character '\\r' at position 2"),
    ("a NUL", "my\x00.toml", "the new file's path 'my\\x00.toml' has the character '\\x00' at position 2"),
    (
        "an escape code",
        "\x1b[31mmy.toml",
        "the new file's path '\\x1b[31mmy.toml' has the character '\\x1b' at position 0",
    ),
    (
        "a bidi override",
        "\u202emy.toml",
        "the new file's path '\\u202emy.toml' has the character '\\u202e' at position 0",
    ),
    (
        "a byte not UTF-8",
        "my\udc80.toml",
        "the new file's path 'my\\udc80.toml' has the character '\\udc80' at position 2",
    ),
    ("an empty name", ".toml", "the new file's name is empty ('.toml'); give one such as my.toml"),
    ("an empty name in a folder", "d/.toml", "the new file's name is empty ('d/.toml'); give one such as my.toml"),
]


@pytest.mark.parametrize("file,message", [c[1:] for c in COPY_CASES], ids=[c[0] for c in COPY_CASES])
def test_specs_copy_to_a_name_that_is_not_plain(file, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d\nx").mkdir()
    out, err = _one_line(capsys, ["specs", "--copy", "seed", file])
    suffix = "" if "empty" in message else ", which is not printable; give a plain file name"
    assert err == f"{PREFIX}specs --copy: {message}{suffix}" and out == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["d", "d\nx"]


# --- predict ... | head -1: the reader went away ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED=1", "buffered"])
def test_predict_into_a_pipe_closed_early_exits_141(unbuffered, tmp_path, model_file):
    """100,000 rows (4 MB of output) can't fit a pipe (64 KiB): the write must fail when head exits, every
    time. With PYTHONUNBUFFERED Python's text layer dropped the rest of a short write: exit 0 before."""
    import sys

    model = model_file
    rng = np.random.default_rng(0)
    x = tmp_path / "x.csv"
    np.savetxt(x, rng.uniform(0, 8, size=(100_000, 4)), delimiter=",", fmt="%.6g")
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    command = f"{sys.executable} -m softmax_rosetta predict --model {model} --input {x} | head -1"
    done = subprocess.run(
        ["bash", "-c", command + '; echo "status ${PIPESTATUS[0]}" >&2'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "row,class,p0,p1,p2\n"
    err = done.stderr.splitlines()
    assert err[-1] == "status 141" and err[0].startswith("# softmax-rosetta predict: ") and len(err) == 2, err
    # read to the end, the same output is whole, whatever the buffering
    full = subprocess.run(
        [sys.executable, "-m", "softmax_rosetta", "predict", "--model", str(model), "--input", str(x)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert full.returncode == 0 and len(full.stdout.splitlines()) == 100_001
