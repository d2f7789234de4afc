"""The softmax-rosetta command: the lesson's printout, JSON, and one-line errors."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from softmax_rosetta.checks import findable
from softmax_rosetta.testing import assert_within, require_backend, require_dtype
from softmax_rosetta.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^epoch: (\d+) cost: (\S+)$")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_prints_the_lessons_eleven_lines(backend_name, dtype, capsys, seed_spec):
    require_dtype(backend_name, dtype)
    assert main(["train", backend_name, "--dtype", dtype]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "train accuracy: 1.0000 (8 samples)"  # after the lesson's lines
    lines = lines[:-1]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m[1]) for m in matches] == list(range(0, 1001, 100))
    costs = [float(m[2]) for m in matches]
    assert_within(costs, seed_spec.expected_costs, seed_spec.tolerance(dtype).expected_cost, "printed costs")
    if dtype == "float32":  # printed the way Python prints a float: the float32 value, in full
        assert all(float(m[2]) == float(__import__("numpy").float32(m[2])) for m in matches)


def test_train_json(capsys):
    assert main(["train", "numpy", "--json", "--epochs", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "numpy" and result["epochs"] == 20
    assert len(result["costs"]) == 21
    assert len(result["weight"]) == 3 and len(result["weight"][0]) == 4
    assert result["settings"]["numpy"]


def test_train_options(capsys):
    assert main(["train", "numpy", "--epochs", "50", "--lr", "0.5", "--log-every", "25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch:")] == ["0", "25", "50"]
    assert lines[-1].startswith("train accuracy: ")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "tensorflow"], "backend: unknown backend 'tensorflow'; known: numpy, torch, jax, mlx"),
        (["train", "numpy", "--dtype", "float16"], "dtype: unknown dtype 'float16'; known: float32, float64"),
        (["train", "numpy", "--device", "cuda"], "device: unknown device 'cuda' for the numpy backend; known: cpu"),
        (["train", "numpy", "--spec", "nope"], "spec: unknown spec 'nope'"),
        (
            ["train", "numpy", "--variant", "fused"],
            "variant: unknown variant 'fused' for the numpy backend; known: lesson",
        ),
        (["train", "numpy", "--lr", "-1"], "argument --lr: must be a finite number > 0, got -1"),
        (["train", "numpy", "--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
        (["train", "numpy", "--epochs", "-5"], "argument --epochs: must be >= 0, got -5"),
        (["train", "numpy", "--epochs", "ten"], "argument --epochs: expected an integer, got 'ten'"),
        (
            ["compare", "--backends", "numpy,mxnet"],
            "--backends: unknown backend 'mxnet'; known: numpy, torch, jax, mlx",
        ),
        (["compare", "--dtypes", "float16"], "--dtypes: unknown dtype 'float16'; known: float32, float64"),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert message in err
    assert captured.out == ""


def test_bad_spec_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "common/specs/seed.toml").read_text().replace("lr = 0.1", "lr = -0.1"))
    assert main(["train", "numpy", "--spec", str(bad)]) == 2
    assert (
        capsys.readouterr().err.strip() == "softmax-rosetta: error: optimizer.lr: must be a finite number > 0, got -0.1"
    )


def test_debug_shows_the_traceback():
    with pytest.raises(Exception, match="unknown backend"):
        main(["--debug", "train", "tensorflow"])


def test_backends_lists_each_backend(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    for name in ("numpy", "torch", "jax"):
        assert re.search(rf"^{name}\s+(installed|not installed)", out, re.M), out
    assert re.search(r"^numpy\s+installed\s+numpy \S+( numba \S+)?\s+devices: cpu", out, re.M)


def test_specs_lists_the_seed(capsys):
    assert main(["specs"]) == 0
    assert re.search(r"^seed\s+8 x 4 -> 3", capsys.readouterr().out, re.M)


def test_console_script_is_installed():
    """The installed entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("softmax-rosetta")
    if not exe.exists():
        pytest.skip(f"no console script beside {sys.executable}: the package is not pip-installed here")
    out = subprocess.run([str(exe), "train", "numpy", "--epochs", "0"], capture_output=True, text=True, check=True)
    assert out.stdout == "epoch: 0 cost: 1.6167852878570557\ntrain accuracy: 0.1250 (8 samples)\n"


# --- frameworks are optional: with only NumPy, NumPy works and the others say what to install ----

BLOCK = "import sys; [sys.modules.__setitem__(m, None) for m in ('torch', 'jax', 'flax', 'optax', 'mlx')]; "


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_numpy_backend_imports_no_framework():
    out = _python(
        "import sys; from softmax_rosetta import get_backend, load_spec; "
        "get_backend('numpy').train(load_spec('seed'), epochs=3); "
        "print(sorted(m for m in ('torch', 'jax', 'flax', 'optax') if m in sys.modules))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_torch_and_jax(tmp_path):
    out = _python(
        BLOCK + "from softmax_rosetta.tools.cli import main; from softmax_rosetta import available_backends; "
        "print(available_backends()); sys.exit(main(['train', 'numpy', '--epochs', '0']))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "['numpy']",
        "epoch: 0 cost: 1.6167852878570557",
        "train accuracy: 0.1250 (8 samples)",
    ]
    for name, extra in (("torch", "torch"), ("jax", "jax")):
        out = _python(BLOCK + f"from softmax_rosetta.tools.cli import main; sys.exit(main(['train', '{name}']))")
        assert out.returncode == 2
        assert out.stderr.strip().startswith(f"softmax-rosetta: error: backend '{name}' needs ")
        assert f"pip install 'softmax-rosetta[{extra}]'" in out.stderr
        assert "\n" not in out.stderr.strip()
    out = _python(BLOCK + "from softmax_rosetta.tools.cli import main; sys.exit(main(['backends']))")
    assert "torch  not installed (needs torch): pip install 'softmax-rosetta[torch]'" in out.stdout


# --- train names what ran on stderr; --quiet prints the costs alone ------------------------------


def test_train_names_what_ran_on_stderr_and_leaves_stdout_to_the_lesson(capsys):
    assert main(["train", "numpy", "--epochs", "200"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[:3] == [
        "epoch: 0 cost: 1.6167852878570557",
        "epoch: 100 cost: 0.6588907837867737",
        "epoch: 200 cost: 0.5734434723854065",
    ]
    assert len(lines) == 4 and lines[3].startswith("train accuracy: ")
    import numpy as np

    versions = f"numpy {np.__version__}" + (
        f", numba {importlib.metadata.version('numba')}" if findable("numba") else ""
    )
    assert captured.err.splitlines() == [
        "# softmax-rosetta train: backend numpy, variant lesson, float32 on cpu; "
        f"spec seed (8 x 4 -> 3 classes), 200 epochs, lr 0.1; {versions}"
    ]


def test_train_banner_names_the_variant_dtype_and_spec(backend_name, capsys):
    require_dtype(backend_name, "float64")
    variant = "fast"  # every backend has it
    assert main(["train", backend_name, "--variant", variant, "--dtype", "float64", "--epochs", "3"]) == 0
    (banner,) = capsys.readouterr().err.splitlines()
    assert banner.startswith(f"# softmax-rosetta train: backend {backend_name}, variant fast, float64 on cpu; ")
    assert "spec seed (8 x 4 -> 3 classes), 3 epochs, lr 0.1; " in banner


def test_train_quiet_prints_the_costs_alone(capsys):
    assert main(["train", "numpy", "--quiet", "--spec", "iris", "--epochs", "100", "--log-every", "50"]) == 0
    captured = capsys.readouterr()
    assert [line.split()[:2] for line in captured.out.splitlines()] == [["epoch:", e] for e in ("0", "50", "100")]
    assert all(LINE.match(line) for line in captured.out.splitlines())  # no accuracy lines, train or test
    assert captured.err == ""


def test_train_quiet_and_json_dont_go_together(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "numpy", "--quiet", "--json"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "softmax-rosetta train: error: argument --json: not allowed with argument --quiet (see --help)"
    )


# --- output paths and the environment, checked before any work -------------------------------


@pytest.mark.parametrize("check", [False, True])
def test_rosetta_out_naming_a_file_is_one_line_and_exit_2(check, tmp_path, capsys):
    target = tmp_path / "rosetta.md"
    target.write_text("x")
    assert main(["rosetta", "--out", str(target), *(["--check"] if check else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"softmax-rosetta: error: --out: '{target}' exists and is not a folder\n"
    assert main(["rosetta", "--out", str(target / "docs")]) == 2
    assert capsys.readouterr().err == (
        f"softmax-rosetta: error: --out: can't create the folder '{target}/docs': '{target}' is a file, not a folder\n"
    )
    assert target.read_text() == "x"


@pytest.mark.slow
@pytest.mark.parametrize("platforms", ["cuda", "tpu"])  # jax fails on them differently: no plugin, no library
def test_jax_platforms_naming_a_platform_that_is_not_there(platforms, tmp_path):
    """train: one line naming JAX_PLATFORMS and its value, exit 2; compare: that backend's failure line."""
    cls = require_backend("jax")
    if platforms == "cuda" and "cuda" in cls.available_devices():
        pytest.skip("jax sees a GPU here: JAX_PLATFORMS=cuda is there")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["JAX_PLATFORMS"] = platforms
    said = f"JAX_PLATFORMS={platforms!r}: jax can't start it on this machine ("

    def run(*argv):
        cmd = [sys.executable, "-m", "softmax_rosetta.tools.cli", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)

    out = run("train", "jax")
    assert out.returncode == 2, out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"softmax-rosetta: error: {said}"), out.stderr
    assert out.stderr.endswith("); unset it to let jax choose, or set it to cpu\n"), out.stderr
    out = run("backends")
    assert out.returncode == 0 and f"jax    broken: {said}" in out.stdout, out.stdout + out.stderr
    out = run("compare", "--backends", "numpy,jax", "--dtypes", "float32", "--no-plots", "--out", str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("[2/2] jax: ")]
    assert " FAILED in " in line and f": BackendError: {said}" in line, line
    assert out.stdout.splitlines()[-1].startswith(f"FAIL (pointing at jax): jax failed to run: BackendError: {said}")
