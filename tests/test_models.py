"""Keeping a trained model: ``train --save`` writes safetensors, ``predict`` reads it through any backend.

A model saved by one backend predicts the same classes in every other, with probabilities within
the seed spec's output tolerance for the dtype; a bad model file or input is one line, exit 2.
"""

import os

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.models import FORMAT, METADATA, ModelError, load_model, save_model
from softmax_rosetta.spec import DTYPES
from softmax_rosetta.testing import assert_within, require_backend, require_device, require_dtype, selected_backends
from softmax_rosetta.tools.cli import main

SELECTED = selected_backends()


@pytest.fixture
def seed_csv(tmp_path, seed_spec):
    """The seed's training rows as the CSV predict reads: a comment, a header, the numbers."""
    path = tmp_path / "x.csv"
    lines = ["# the seed spec's training rows", "f0,f1,f2,f3"]
    lines += [",".join(repr(float(v)) for v in row) for row in seed_spec.x_train]
    path.write_text("\n".join(lines) + "\n")
    return path


def _parse_csv(text):
    header, *rows = [line.split(",") for line in text.splitlines()]
    classes = np.array([int(r[1]) for r in rows])
    probabilities = np.array([[float(v) for v in r[2:]] for r in rows])
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    return header, classes, probabilities


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("predictor", SELECTED)
@pytest.mark.parametrize("saver", SELECTED)
def test_a_model_saved_by_one_backend_predicts_the_same_in_every_other(
    saver, predictor, dtype, trained, seed_spec, tmp_path
):
    require_dtype(saver, dtype)
    require_dtype(predictor, dtype)
    result = trained(saver, "lesson", dtype)
    path = tmp_path / "model.safetensors"
    save_model(path, result, spec=seed_spec)

    model = load_model(path)
    assert model.dtype == dtype and model.weight.shape == (3, 4) and model.bias.shape == (3,)
    np.testing.assert_array_equal(model.weight, result.weight)  # the file keeps every bit
    np.testing.assert_array_equal(model.bias, result.bias)

    x = seed_spec.x_train
    mine = get_backend(saver, dtype=dtype).predict_proba(result.weight, result.bias, x)
    theirs = get_backend(predictor, dtype=dtype).predict_proba(model.weight, model.bias, x)
    assert theirs.shape == (8, 3) and theirs.dtype == np.dtype(dtype)
    tol = seed_spec.tolerance(dtype).output
    assert_within(theirs, mine, tol, f"{predictor} on {saver}'s model vs {saver}")
    assert_within(theirs.sum(axis=1), np.ones(8), tol, "each row's probabilities sum to 1")
    np.testing.assert_array_equal(np.argmax(theirs, axis=1), np.argmax(mine, axis=1))
    np.testing.assert_array_equal(np.argmax(theirs, axis=1), seed_spec.y_train)  # the run's accuracy is 1.0


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["torch", "jax"])
def test_predict_on_a_gpu_agrees_with_the_cpu(name, dtype, trained, seed_spec):
    require_device(name, "cuda")
    result = trained("numpy", "lesson", dtype)
    on_cpu = get_backend(name, dtype=dtype).predict_proba(result.weight, result.bias, seed_spec.x_train)
    on_gpu = get_backend(name, device="cuda", dtype=dtype).predict_proba(result.weight, result.bias, seed_spec.x_train)
    assert on_gpu.dtype == np.dtype(dtype)
    assert_within(on_gpu, on_cpu, seed_spec.tolerance(dtype).output, f"{name} on cuda vs cpu")


def test_the_file_carries_what_made_it(trained, seed_spec, tmp_path):
    result = trained("numpy", "lesson", "float64")
    path = tmp_path / "model.safetensors"
    save_model(path, result, spec=seed_spec)
    meta = load_model(path).metadata
    assert set(meta) == set(METADATA) - {"test_accuracy"}  # the seed has no test split
    assert meta["format"] == FORMAT and meta["spec"] == "seed" and meta["backend"] == "numpy"
    assert (meta["variant"], meta["dtype"], meta["device"]) == ("lesson", "float64", "cpu")
    assert (meta["num_classes"], meta["num_features"], meta["epochs"]) == ("3", "4", "1000")
    assert float(meta["final_cost"]) == float(result.costs[-1]) and meta["standardized"] == "false"
    assert '"numpy"' in meta["versions"] and '"safetensors"' in meta["versions"]
    tensors = load_file(str(path))  # plain safetensors, no softmax_rosetta needed to read it
    assert sorted(tensors) == ["bias", "weight"] and tensors["weight"].dtype == np.float64


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_torch_and_jax_read_the_file_with_safetensors_alone(framework, trained, seed_spec, tmp_path):
    require_backend(framework)
    result = trained("numpy", "lesson", "float32")
    path = str(tmp_path / "model.safetensors")
    save_model(path, result, spec=seed_spec)
    if framework == "torch":
        from safetensors.torch import load_file as load
    else:
        from safetensors.flax import load_file as load
    tensors = load(path)
    np.testing.assert_array_equal(np.asarray(tensors["weight"]), result.weight)
    np.testing.assert_array_equal(np.asarray(tensors["bias"]), result.bias)


def test_a_torch_linear_saved_with_safetensors_predicts_here(seed_spec, tmp_path):
    """nn.Linear's state dict has the names and layout of a model file: weight (out, in), bias."""
    require_backend("torch")
    import torch
    from safetensors.torch import save_file as save_torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 3)
    path = str(tmp_path / "linear.safetensors")
    save_torch(linear.state_dict(), path)
    model = load_model(path)
    with torch.no_grad():
        expected = torch.softmax(linear(torch.tensor(seed_spec.x_train, dtype=torch.float32)), dim=1).numpy()
    got = get_backend("numpy").predict_proba(model.weight, model.bias, seed_spec.x_train)
    assert_within(got, expected, seed_spec.tolerance("float32").output, "numpy on torch's nn.Linear")


def test_train_save_then_predict_from_the_command_line(capsys, tmp_path, seed_csv, seed_spec):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"an older file")  # replaced, as torch.save and np.save replace theirs
    assert main(["train", "numpy", "--save", str(path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert all(line.startswith("epoch: ") for line in captured.out.splitlines()) and captured.err == ""
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors", "x.csv"]  # no temporary file left behind

    for backend in SELECTED:
        require_backend(backend)
        assert main(["predict", "--model", str(path), "--input", str(seed_csv), "--backend", backend]) == 0
        captured = capsys.readouterr()
        header, classes, probabilities = _parse_csv(captured.out)
        assert header == ["row", "class", "p0", "p1", "p2"]
        np.testing.assert_array_equal(classes, seed_spec.y_train)
        assert_within(probabilities.sum(axis=1), np.ones(8), 1e-6, "probabilities sum to 1")
        (banner,) = captured.err.splitlines()
        assert banner.startswith(f"# softmax-rosetta predict: {path} (4 features -> 3 classes, float32; trained by")
        assert f"through {backend}, float32 on cpu; 8 rows of {seed_csv}" in banner


def test_predict_in_float64_prints_every_digit(capsys, tmp_path, seed_csv, trained, seed_spec):
    result = trained("numpy", "lesson", "float32")
    path = tmp_path / "model.safetensors"
    save_model(path, result, spec=seed_spec)
    assert main(["predict", "--model", str(path), "--input", str(seed_csv), "--dtype", "float64"]) == 0
    _, _, probabilities = _parse_csv(capsys.readouterr().out)
    expected = get_backend("numpy", dtype="float64").predict_proba(result.weight, result.bias, seed_spec.x_train)
    np.testing.assert_array_equal(probabilities, expected)  # printed in full: read back exactly


def test_a_standardised_spec_says_so_when_predicting(capsys, tmp_path):
    spec = load_spec("digits")
    path = tmp_path / "digits.safetensors"
    assert main(["train", "numpy", "--spec", "digits", "--quiet", "--save", str(path)]) == 0
    assert load_model(path).metadata["standardized"] == "true"
    x = tmp_path / "x.csv"
    x.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in spec.x_test[:5]) + "\n")
    capsys.readouterr()
    assert main(["predict", "--model", str(path), "--input", str(x)]) == 0
    captured = capsys.readouterr()
    _, classes, _ = _parse_csv(captured.out)
    assert classes.shape == (5,)
    assert "# note: spec digits standardises its features" in captured.err


# --- mistakes: one line naming the file and what is wrong, exit status 2 ---------------------------


def _model_file(tmp_path, tensors, metadata=None):
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


W = np.ones((3, 4), dtype=np.float32)
B = np.zeros(3, dtype=np.float32)
NAN_W = W.copy()
NAN_W[1, 2] = np.nan

BAD_MODELS = [
    ("missing", lambda tmp: tmp / "nowhere.safetensors", "nowhere.safetensors: no such file"),
    ("a folder", lambda tmp: tmp, "is a folder, not a model file"),
    ("not safetensors", lambda tmp: _text(tmp / "x.safetensors", "1,2,3\n"), "not a safetensors model file"),
    ("empty", lambda tmp: _text(tmp / "x.safetensors", ""), "not a safetensors model file"),
    (
        "no bias",
        lambda tmp: _model_file(tmp, {"weight": W}),
        "tensor 'bias' missing (the file has: weight)",
    ),
    (
        "bias of the wrong shape",
        lambda tmp: _model_file(tmp, {"weight": W, "bias": np.zeros(4, np.float32)}),
        "tensor 'bias' has shape (4,); weight (3, 4) needs (3,)",
    ),
    (
        "weight of one dimension",
        lambda tmp: _model_file(tmp, {"weight": np.ones(4, np.float32), "bias": B}),
        "tensor 'weight' has shape (4,); expected (classes, features)",
    ),
    (
        "nan in the weight",
        lambda tmp: _model_file(tmp, {"weight": NAN_W, "bias": B}),
        "tensor 'weight' has a non-finite value nan at index (1, 2)",
    ),
    (
        "integer weight",
        lambda tmp: _model_file(tmp, {"weight": np.ones((3, 4), np.int64), "bias": B}),
        "tensor 'weight' has dtype int64; expected floats",
    ),
    (
        "metadata that disagrees",
        lambda tmp: _model_file(tmp, {"weight": W, "bias": B}, {"num_classes": "10"}),
        "metadata num_classes is '10' but weight has shape (3, 4)",
    ),
    (
        "standardized neither true nor false",
        lambda tmp: _model_file(tmp, {"weight": W, "bias": B}, {"standardized": "yes\n# PASS"}),
        "metadata standardized is 'yes\\n# PASS'; expected 'true' or 'false'",
    ),
]


def _text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("make,message", [c[1:] for c in BAD_MODELS], ids=[c[0] for c in BAD_MODELS])
def test_a_bad_model_file_is_one_line(make, message, tmp_path, seed_csv, capsys):
    path = make(tmp_path)
    with pytest.raises(ModelError, match="^" + str(path).replace("\\", "\\\\")):
        load_model(path)
    assert main(["predict", "--model", str(path), "--input", str(seed_csv)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"softmax-rosetta: error: --model {path}: "), err
    assert message in err, err
    assert captured.out == ""


BAD_INPUTS = [
    ("too narrow", "1,2,3\n", "line 1 has 3 values but the model takes 4 features"),
    ("too wide, a label column", "1,2,3,4,0\n", "line 1 has 5 values but the model takes 4 features"),
    ("not a number", "f0,f1,f2,f3\n1,2,3,4\n1,2,x,4\n", "line 3, column 3: not a number: 'x'"),
    ("a mixed first line", "1,2,three,4\n", "line 1, column 3: not a number: 'three'"),
    ("empty", "", "no rows of numbers in it"),
    ("a header alone", "# comment\nf0,f1,f2,f3\n\n", "no rows of numbers in it"),
    ("nan", "1,2,nan,4\n", "line 1, column 3: non-finite value 'nan'"),
    ("too large for float32", "1,2,3,1e39\n", "line 1, column 4: 1e39 is too large for float32"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_a_bad_input_file_is_one_line(text, message, tmp_path, trained, seed_spec, capsys):
    model = tmp_path / "model.safetensors"
    save_model(model, trained("numpy", "lesson", "float32"), spec=seed_spec)
    x = _text(tmp_path / "x.csv", text)
    assert main(["predict", "--model", str(model), "--input", str(x)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"softmax-rosetta: error: --input {x}: {message}"
    assert captured.out == ""


def test_a_missing_input_file_is_one_line(tmp_path, trained, seed_spec, capsys):
    model = tmp_path / "model.safetensors"
    save_model(model, trained("numpy", "lesson", "float32"), spec=seed_spec)
    assert main(["predict", "--model", str(model), "--input", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.strip() == f"softmax-rosetta: error: --input {tmp_path / 'x.csv'}: no such file"


@pytest.mark.parametrize(
    "where,message",
    [
        ("nowhere/model.safetensors", "--save {tmp}/nowhere/model.safetensors: no such folder '{tmp}/nowhere'"),
        ("", "--save {tmp}/: is a folder; give a file name such as {tmp}/model.safetensors"),
    ],
)
def test_save_to_a_bad_place_fails_before_training(where, message, tmp_path, capsys):
    path = f"{tmp_path}/{where}"
    assert main(["train", "numpy", "--save", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained: the check comes first
    assert captured.err.strip() == "softmax-rosetta: error: " + message.format(tmp=tmp_path)


def test_predict_proba_checks_its_arguments():
    be = get_backend("numpy")
    with pytest.raises(ValueError, match=r"x: rows have 3 features but the model takes 4"):
        be.predict_proba(W, B, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\) for weight of shape \(3, 4\), got \(4,\)"):
        be.predict_proba(W, np.zeros(4), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"weight: non-finite value nan at index \(1, 2\)"):
        be.predict_proba(NAN_W, B, np.ones((2, 4)))


# --- what a user's files hold, read as they are meant ------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: "\ufeff" + t, id="byte-order mark, header"),
        pytest.param(lambda t: "\ufeff" + t.split("\n", 2)[2], id="byte-order mark, no header"),
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="CRLF"),
        pytest.param(lambda t: "\ufeff" + t.split("\n", 2)[2].replace("\n", "\r\n"), id="byte-order mark and CRLF"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="CR alone"),
    ],
)
def test_predict_reads_a_csv_from_excel_or_windows_as_it_is_meant(
    encode, capsys, tmp_path, seed_csv, trained, seed_spec
):
    model = tmp_path / "model.safetensors"
    save_model(model, trained("numpy", "lesson", "float32"), spec=seed_spec)
    assert main(["predict", "--model", str(model), "--input", str(seed_csv)]) == 0
    plain = capsys.readouterr().out
    other = tmp_path / "other.csv"
    other.write_bytes(encode(seed_csv.read_text()).encode("utf-8"))
    assert main(["predict", "--model", str(model), "--input", str(other)]) == 0
    assert capsys.readouterr().out == plain


def test_metadata_with_control_characters_stays_on_the_banners_line(tmp_path, seed_csv, capsys):
    metadata = {"backend": "numpy\n# PASS", "variant": "\x1b[31mred", "spec": "s\u202eeed", "epochs": "1\r2"}
    path = _model_file(tmp_path, {"weight": W, "bias": B}, {**metadata, "standardized": "true"})
    assert main(["predict", "--model", str(path), "--input", str(seed_csv)]) == 0
    banner, note = capsys.readouterr().err.splitlines()
    assert "trained by numpy\\n# PASS \\x1b[31mred, spec s\\u202eeed, epochs 1\\r2" in banner
    assert note.startswith("# note: spec s\\u202eeed standardises its features")


@pytest.mark.parametrize("value", ["1e37", "-1e37", "3.3e38"])
def test_rows_near_the_float32_limit_are_answered_alike_in_every_backend(value, tmp_path, trained, seed_spec):
    """Within the bound the logits are finite in any order of summation: every backend answers, finite."""
    from softmax_rosetta.checks import RowError

    result = trained("numpy", "lesson", "float32")
    x = np.array([[float(value), 0, 0, 0], [1, 2, 1, 1]])
    answers = {}
    for name in SELECTED:
        require_backend(name)
        be = get_backend(name, dtype="float32")
        if value == "3.3e38":  # |x| |W| reaches past the largest float32: refused alike
            with pytest.raises(RowError, match=r"^x: row 0: its logits x W\^T \+ b can overflow float32"):
                be.predict_proba(result.weight, result.bias, x)
            continue
        answers[name] = be.predict_proba(result.weight, result.bias, x)
        assert np.isfinite(answers[name]).all()
    for name, p in answers.items():
        np.testing.assert_array_equal(np.argmax(p, axis=1), np.argmax(answers["numpy"], axis=1), err_msg=name)


def test_non_finite_probabilities_are_never_returned():
    from softmax_rosetta.checks import RowError, probabilities

    good = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert probabilities(good) is good
    with pytest.raises(RowError, match=r"^x: row 1: its probabilities are not finite \(nan, nan\)$") as caught:
        probabilities(np.array([[0.5, 0.5], [np.nan, np.nan], [np.inf, 0]]))
    assert caught.value.row == 1


@pytest.mark.parametrize("how", ["relative", "absolute", "a chain"])
def test_save_through_a_symbolic_link_replaces_its_target_keeping_its_mode(how, tmp_path, trained, seed_spec):
    target = tmp_path / "models" / "model.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"an older model")
    target.chmod(0o600)
    link = tmp_path / "model.safetensors"
    if how == "relative":
        link.symlink_to("models/model.safetensors")
    elif how == "absolute":
        link.symlink_to(target)
    else:
        (tmp_path / "middle").symlink_to("models/model.safetensors")
        link.symlink_to("middle")
    save_model(link, trained("numpy", "lesson", "float32"), spec=seed_spec)
    assert link.is_symlink() and target.stat().st_mode & 0o777 == 0o600
    np.testing.assert_array_equal(load_model(target).weight, trained("numpy", "lesson", "float32").weight)
    assert sorted(os.listdir(target.parent)) == ["model.safetensors"]  # no temporary file left
