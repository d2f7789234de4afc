"""The conformance kit (``softmax-rosetta conform``): a correct backend passes, a wrong one fails, and a
backend's declared deviations show as declared.

The wrong backends here are real NumPy backends with one thing broken (softmax without subtracting the
max; a learning rate 1% off): the kit must find each through its own checks, with no hint.
"""

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta.backends.numpy_impl import functional as numpy_functional
from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.conform import checks, render, torch_samples
from softmax_rosetta.tools.conform.command import conform
from softmax_rosetta.tools.conform.deviations import DeviationsError

ROOT = Path(__file__).resolve().parent.parent


class _NaiveFunctional:
    """NumPy's functional module, but softmax as the formula reads: exp(z) / sum exp(z), no max subtracted."""

    def __getattr__(self, name):
        return getattr(numpy_functional, name)

    @staticmethod
    def softmax(z, axis=-1):
        with np.errstate(all="ignore"):
            e = np.exp(z)
            return e / e.sum(axis=axis, keepdims=True)


class NoMaxSubtraction(NumpyBackend):
    name = "no-max"
    display_name = "NumPy, softmax without the max subtracted"

    @property
    def functional(self):
        return _NaiveFunctional()


class LrOff(NumpyBackend):
    name = "lr-off"
    display_name = "NumPy, learning rate 1% off"

    def train_native(self, *args, lr, **kwargs):
        return super().train_native(*args, lr=lr * 1.01, **kwargs)


def _status(report, check, dtype="float64"):
    (row,) = [r for r in report.rows if r.check == check and r.dtype == dtype]
    return row


@pytest.mark.slow
def test_the_reference_passes_every_check(tmp_path, capsys):
    out = tmp_path / "numpy.json"
    assert main(["conform", "numpy", "--quick", "--json", str(out)]) == 0
    matrix = capsys.readouterr().out
    got = json.loads(out.read_text())
    assert got["passed"] and got["counts"]["FAIL"] == 0
    # n/a only where a variant's package is missing (compiled without numba, in a NumPy-only venv)
    not_applicable = {c["check"] for c in got["checks"] if c["status"] == "n/a"}
    assert not_applicable == {f"variant:{v}" for v in NumpyBackend.variants if NumpyBackend.unavailable(v)}
    assert {c["check"] for c in got["checks"]} == {c for _, c in checks.plan(NumpyBackend, ["seed"])}
    assert len(got["checks"]) == 2 * len(checks.plan(NumpyBackend, ["seed"]))  # float32 and float64
    assert "| functional | `softmax` | pass | pass |" in matrix
    assert "| training | `trajectory:seed` | pass | pass |" in matrix


@pytest.mark.slow
def test_softmax_without_the_max_subtracted_fails():
    report = conform(NoMaxSubtraction, ["float64"], ["seed"])
    row = _status(report, "softmax")
    assert row.status == render.FAIL and "+1e4" in row.detail  # exp(1e4) overflows to inf: nan
    assert report.failed
    assert "| functional | `softmax` | **FAIL** |" in render.markdown(report)
    assert _status(report, "trajectory:seed").status == render.PASS  # training doesn't call be.softmax


@pytest.mark.slow
def test_a_learning_rate_one_percent_off_fails_the_trajectory():
    report = conform(LrOff, ["float32"], ["seed"])
    for check in ("trajectory:seed", "variant:fast"):
        row = _status(report, check, "float32")
        assert row.status == render.FAIL, row
        assert "expected" in row.detail and "costs" in row.detail
    assert _status(report, "softmax", "float32").status == render.PASS
    assert _status(report, "determinism", "float32").status == render.PASS  # wrong, but the same each time


def _with_deviations(tmp_path, text, base=NoMaxSubtraction):
    path = tmp_path / "deviations.toml"
    path.write_text(text)
    return type("Declared", (base,), {"deviations": str(path)})  # an absolute path is taken as it is


@pytest.mark.slow
def test_a_declared_failure_shows_as_declared_and_passes(tmp_path):
    cls = _with_deviations(
        tmp_path,
        '[[deviation]]\ncheck = "softmax"\nreason = "the formula as written: exp(z) / sum exp(z)"\n'
        '[[deviation]]\ncheck = "bad_input"\ndtypes = ["float32"]\nreason = "declared, and passes anyway"\n',
    )
    report = conform(cls, ["float64"], ["seed"])
    row = _status(report, "softmax")
    assert row.status == render.DECLARED and row.reason.startswith("the formula as written")
    assert not report.failed
    md = render.markdown(report)
    assert "| functional | `softmax` | declared |" in md
    assert "- **declared** `softmax` float64: the formula as written" in md
    assert _status(report, "bad_input").status == render.PASS  # declared for float32 only


@pytest.mark.slow
def test_a_deviation_on_a_spec_the_run_leaves_out_is_still_valid(tmp_path):
    """--quick trains the seed spec only: a declared gap on digits is a known check, not an error."""
    cls = _with_deviations(
        tmp_path, '[[deviation]]\ncheck = "trajectory:digits"\nreason = "slow to converge"\n', base=NumpyBackend
    )
    report = conform(cls, ["float64"], ["seed"])
    assert not report.failed and not [r for r in report.rows if r.check == "trajectory:digits"]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('[[deviation]]\ncheck = "sofmax"\nreason = "typo"\n', "deviation #1: unknown check 'sofmax'; known: softmax,"),
        ('[[deviation]]\ncheck = "softmax"\n', "deviation #1 (softmax): 'reason' must say why, in words"),
        ('[[deviation]]\ncheck = "softmax"\nreason = "x"\ndtypes = ["float16"]\n', "'dtypes' must be a list of"),
        ('[[deviation]]\ncheck = "softmax"\nreason = "x"\nwhy = "y"\n', "unknown key 'why'"),
        ("[deviation\n", "not valid TOML"),
        ('skip = ["softmax"]\n', "unknown table or key 'skip'"),
    ],
)
def test_a_bad_deviations_file_is_one_line_naming_the_plugin(tmp_path, text, cause):
    cls = _with_deviations(tmp_path, text)
    with pytest.raises(DeviationsError) as raised:
        conform(cls, ["float64"], ["seed"], distribution="my-plugin")
    message = str(raised.value)
    assert "\n" not in message and cause in message
    assert message.startswith(f"backend plugin 'no-max' (from my-plugin): deviations file {tmp_path}")


def test_a_missing_deviations_file_is_one_line(tmp_path):
    cls = type("Declared", (NumpyBackend,), {"deviations": str(tmp_path / "absent.toml")})
    with pytest.raises(DeviationsError, match=r"^backend plugin 'numpy': deviations file .*absent.toml: can't be read"):
        conform(cls, ["float64"], ["seed"])


def test_an_unknown_backend_is_one_line_listing_the_installed_ones(capsys):
    assert main(["conform", "nonesuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("softmax-rosetta: error: conform: unknown backend 'nonesuch'; installed: numpy")


def test_bad_input_check_catches_a_backend_that_answers_garbage():
    class Wraps(NumpyBackend):
        def cross_entropy(self, logits, target, *args, **kwargs):  # no checks: NumPy wraps label -1 around
            return np.float64(1.0)

    outcome = checks.bad_input(Wraps(dtype="float64"), None)
    assert outcome.passed is False and "returned" in outcome.detail


def test_the_stored_samples_load_as_the_test_makes_them():
    samples = torch_samples.load()
    assert {c["call"] for c in samples} == set(torch_samples.CALLS)
    assert {c["dtype"] for c in samples} == {"float32", "float64"}
    assert all("error" in c or "value" in c for c in samples) and any("error" in c for c in samples)
    assert all(c["value"].dtype == np.dtype(c["dtype"]) for c in samples if "value" in c)


@pytest.mark.slow
def test_the_stored_samples_are_torchs_own_today():
    """Made again from torch's test suite (as tests/test_torch_samples.py makes them), they are the stored ones."""
    require_backend("torch")
    if importlib.util.find_spec("expecttest") is None:
        pytest.skip("torch's test inputs need expecttest (pip install 'softmax-rosetta[test]')")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "samples.pickle"
        subprocess.run([sys.executable, str(ROOT / "tests" / "test_torch_samples.py"), str(made)], check=True)
        stored = Path(tmp) / "stored.npz"
        with open(made, "rb") as fh:
            torch_samples.store(pickle.load(fh), stored)
        fresh, kept = torch_samples.load(stored), torch_samples.load()
    assert len(fresh) == len(kept)
    for a, b in zip(fresh, kept, strict=True):
        assert a["name"] == b["name"] and a.get("error") == b.get("error")
        for field in torch_samples.ARRAYS:
            assert (field in a) == (field in b)
            if field in a:
                np.testing.assert_array_equal(a[field], b[field], err_msg=f"{a['name']} {field}")


def test_the_kit_doesnt_need_torch():
    """The stored samples and the checks import no framework (a NumPy-only install runs the kit)."""
    code = (
        "import sys\nfrom softmax_rosetta.tools.conform import checks, command, torch_samples\n"
        "torch_samples.load()\nprint([m for m in ('torch', 'jax') if m in sys.modules])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


WRONG_PLUGIN = '''
"""A plugin whose softmax doesn't subtract the max: conform must fail it, exit status 1."""
import numpy as np
from softmax_rosetta.backends.numpy_impl import functional as numpy_functional
from softmax_rosetta.backends.numpy_impl.backend import NumpyBackend


class _Naive:
    def __getattr__(self, name):
        return getattr(numpy_functional, name)

    @staticmethod
    def softmax(z, axis=-1):
        with np.errstate(all="ignore"):
            e = np.exp(z)
            return e / e.sum(axis=axis, keepdims=True)


class NoMax(NumpyBackend):
    name = "no-max"
    display_name = "No max"
    packages = ("numpy",)
    extra = ""

    @property
    def functional(self):
        return _Naive()
'''


@pytest.mark.slow
def test_the_command_exits_1_on_a_wrong_plugin(tmp_path):
    """Installed as pip leaves a plugin (its module and a .dist-info with the entry point), the wrong backend
    is run by the command: FAIL in the matrix, exit status 1."""
    (tmp_path / "no_max_plugin.py").write_text(WRONG_PLUGIN)
    info = tmp_path / "no_max_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: no-max-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[softmax_rosetta.backends]\nno-max = no_max_plugin:NoMax\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "softmax_rosetta", "conform", "no-max", "--quick", "--dtypes", "float64"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "| functional | `softmax` | **FAIL** |" in done.stdout
    assert "from no-max-plugin" in done.stdout
    assert re.search(r"^softmax-rosetta conform: no-max: \d+ pass, [1-9]\d* FAIL, 0 declared", done.stderr, re.M)
