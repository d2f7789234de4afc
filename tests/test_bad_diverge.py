"""Bad input to ``softmax-rosetta diverge``: each row, what the user gave -> one line on stderr naming the field
and the value, exit status 2, nothing on stdout, no traceback, every file given left as it was and no
report folder made."""

import hashlib
import struct

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.diverge import tracefile
from softmax_rosetta.trace import trace

PREFIX = "softmax-rosetta: error: "


def _write(path, name, spec, dtype, steps):
    backend = require_backend(name)(dtype=dtype)
    traced = trace(backend, spec, steps)
    tracefile.save_trace(str(path), traced, tracefile.trace_metadata(spec, dtype, name, "lesson", "cpu", {}, traced))
    return traced


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Trace files good and bad, made once: {name: path}."""
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("traces")
    seed, iris = load_spec("seed"), load_spec("iris")
    good = _write(d / "good.safetensors", "numpy", seed, "float32", range(0, 5))
    _write(d / "f64.safetensors", "numpy", seed, "float64", range(0, 5))
    _write(d / "iris.safetensors", "numpy", iris, "float32", range(0, 3))
    _write(d / "later.safetensors", "numpy", seed, "float32", range(10, 15))
    data = (d / "good.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (d / "text.safetensors").write_text("epoch: 0 cost: 1.6\n")
    (d / "empty.safetensors").write_bytes(b"")
    save_file({"weight": np.zeros((3, 4), np.float32)}, str(d / "model.safetensors"), metadata={"backend": "numpy"})
    (d / "huge-header.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    good[2].values["softmax"] = good[2].values["softmax"][:4]  # a tensor of another shape, the metadata unchanged
    meta = tracefile.trace_metadata(seed, "float32", "numpy", "lesson", "cpu", {}, good)
    tracefile.save_trace(str(d / "shape.safetensors"), good, meta)
    tracefile.save_trace(str(d / "foreign-version.safetensors"), good, {**meta, "format_version": "9"})
    return {p.stem: str(p) for p in d.iterdir()}


T = "{t}/"  # the folder of the trace files
CASES = [
    # the sources
    (
        ["tensorflow", "numpy"],
        "A: unknown backend 'tensorflow'; known: numpy, torch, jax, mlx, or a .safetensors trace",
    ),
    (["numpy", "numpy:nope"], "B: unknown variant 'nope' for numpy; known: lesson, fast"),
    (["numpy:fast", "numpy"], "A: variant 'fast' can't be traced; only 'lesson' can"),
    (["numpy@", "numpy"], "A: empty device in 'numpy@'"),
    (["numpy@tpu", "numpy"], "A: unknown device 'tpu' for numpy; known: cpu"),
    ([T + "missing.safetensors", "numpy"], "A: no such trace file '{t}/missing.safetensors'"),
    # the files: foreign, truncated, inconsistent
    ([T + "truncated.safetensors", "numpy"], "trace '{t}/truncated.safetensors': "),
    ([T + "text.safetensors", "numpy"], "trace '{t}/text.safetensors': not a safetensors file"),
    ([T + "empty.safetensors", "numpy"], "trace '{t}/empty.safetensors': not a safetensors file (0 bytes"),
    (
        [T + "huge-header.safetensors", "numpy"],
        "trace '{t}/huge-header.safetensors': not a safetensors file, or truncated",
    ),
    (
        [T + "model.safetensors", "numpy"],
        "trace '{t}/model.safetensors': not a softmax-rosetta trace (metadata format None",
    ),
    ([T + "foreign-version.safetensors", "numpy"], "trace '{t}/foreign-version.safetensors': format_version '9'"),
    ([T + "shape.safetensors", "numpy"], "trace '{t}/shape.safetensors': tensor 'step000002/softmax' has shape (4, 3)"),
    # two traces, or a trace and the options, that don't go together
    ([T + "good.safetensors", T + "iris.safetensors"], "trace '{t}/iris.safetensors': spec_fingerprint sha256:"),
    ([T + "good.safetensors", T + "f64.safetensors"], "dtype: trace '{t}/good.safetensors' is float32, trace"),
    (
        [T + "good.safetensors", "numpy", "--dtype", "float64"],
        "--dtype: float64, but trace '{t}/good.safetensors' is float32",
    ),
    ([T + "good.safetensors", "numpy", "--spec", "iris"], "trace '{t}/good.safetensors': spec_fingerprint"),
    (
        [T + "good.safetensors", T + "later.safetensors"],
        "steps: the traces share no step ('{t}/good.safetensors' holds steps 0..4",
    ),
    (
        [T + "good.safetensors", "numpy", "--steps", "3:9"],
        "--steps: step 5 is not in trace '{t}/good.safetensors' (it holds steps 0..4)",
    ),
    # steps, size, dtype
    (
        ["numpy", "numpy", "--steps", "0:5000"],
        "--steps: '0:5000' is outside the run's steps 0..1000 (END is exclusive: at most 1001)",
    ),
    (["numpy", "numpy", "--steps", "1001"], "--steps: step 1001 is outside the run's steps 0..1000"),
    (["numpy", "numpy", "--steps", "a:b"], "--steps: 'a:b': expected N or START:END"),
    (["numpy", "numpy", "--steps", "-3"], "--steps: '-3': expected N or START:END"),
    (["numpy", "numpy", "--steps", "5:5"], "--steps: '5:5' selects no step"),
    (["numpy", "numpy", "--steps", "0:9:0"], "--steps: '0:9:0': the stride must be >= 1"),
    (
        ["numpy", "numpy", "--max-size", "0.5"],
        "--max-size: each run's trace would take about 1.3 MiB, over the cap of 0.5 MiB",
    ),
    (["numpy", "numpy", "--dtype", "float16"], "--dtype: unknown dtype 'float16'; known: float32, float64"),
    (["numpy", "numpy", "--spec", "nope"], "spec: unknown spec 'nope'"),
]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(("argv", "line"), CASES, ids=[" ".join(a).replace(T, "") for a, _ in CASES])
def test_bad_input_is_one_line_and_touches_nothing(argv, line, files, capsys, tmp_path):
    import pathlib

    folder = pathlib.Path(files["good"]).parent
    before = _digest(folder)
    out = tmp_path / "report"
    argv = [a.replace("{t}", str(folder)) for a in argv]
    code = main(["diverge", *argv, "--out", str(out), "--save-trace", str(tmp_path / "saved")])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, err
    assert captured.out == ""
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(PREFIX + line.replace("{t}", str(folder))), err
    assert _digest(folder) == before
    assert not out.exists() and not (tmp_path / "saved").exists()


def test_a_backend_whose_framework_is_missing_says_what_to_install(monkeypatch, capsys, tmp_path):
    import softmax_rosetta.registry as registry

    monkeypatch.setattr(registry, "findable", lambda package: package != "torch")
    code = main(["diverge", "numpy", "torch", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == PREFIX + "backend 'torch' needs torch, which is not installed: pip install 'softmax-rosetta[torch]'"
    assert not (tmp_path / "r").exists()


def test_an_argparse_mistake_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["diverge", "numpy", "numpy", "--steps", "0:3", "--every", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not allowed with argument" in err, err
