"""A backend plugin out of tree: tests/plugin_example/ (its own pyproject.toml, an entry point in
``softmax_rosetta.backends``, a backend that reuses the NumPy one, and a deviations file) installed by pip
into a fresh virtual environment, then used by ``backends``, ``train``, ``compare`` and ``conform``.

Offline and quick: the fresh venv has no pip of its own (``venv --without-pip``); a .pth file puts this
checkout's .venv site-packages after its own (pip, setuptools and softmax-rosetta's dependencies come from
there), and pip installs softmax-rosetta from the checkout and the plugin from its folder into the fresh
venv, ``--no-index --no-deps --no-build-isolation``: nothing is downloaded (setuptools builds softmax-rosetta in
the checkout's build/, which git ignores).
"""

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugin_example"


def _setuptools_major() -> int:
    try:
        return int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


# pip builds both projects offline with this environment's setuptools (--no-build-isolation), so it must
# meet pyproject.toml's [build-system] requires; a venv made for NumPy alone has the one venv bundles.
NEEDS = int(re.search(r'"setuptools>=(\d+)', (ROOT / "pyproject.toml").read_text()).group(1))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh venv with softmax-rosetta and rosetta-tiny installed by pip: runs ``softmax-rosetta ARGS``."""
    if _setuptools_major() < NEEDS:
        pytest.skip(f"building offline needs setuptools>={NEEDS} here; this environment has {_setuptools_major()}")
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    plugin = shutil.copytree(PLUGIN, venv.parent / "plugin_example")  # pip builds in the source folder
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "zz_checkout_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            str(plugin),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=venv,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def run(*args, cwd=venv):
        return subprocess.run(
            [str(python), "-m", "softmax_rosetta", *args], capture_output=True, text=True, timeout=600, cwd=cwd
        )

    return run, venv


@pytest.mark.slow
def test_the_plugin_is_listed_trains_and_compares(fresh, tmp_path):
    run, venv = fresh
    listed = run("backends")
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("tiny ") and "(from rosetta-tiny)" in line for line in listed.stdout.splitlines())
    trained = run("train", "tiny", "--spec", "seed", "--epochs", "2", "--dtype", "float64")
    reference = run("train", "numpy", "--spec", "seed", "--epochs", "2", "--dtype", "float64")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.replace("tiny", "numpy") == reference.stdout  # NumPy's lesson, under its own name
    compared = run(
        "compare", "--backends", "numpy,tiny", "--dtypes", "float64", "--no-plots", "--out", str(tmp_path / "r")
    )
    assert compared.returncode == 0, compared.stdout[-2000:] + compared.stderr[-2000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "tiny" in json.dumps(report)


@pytest.mark.slow
def test_conform_reports_the_plugins_declared_deviation(fresh, tmp_path):
    run, _ = fresh
    out = tmp_path / "tiny.json"
    done = run("conform", "tiny", "--quick", "--dtypes", "float64", "--json", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "| functional | `cross_entropy:fused` | declared |" in done.stdout
    got = json.loads(out.read_text())
    assert got["distribution"] == "rosetta-tiny" and got["passed"]
    declared = [c for c in got["checks"] if c["status"] == "declared"]
    assert [c["check"] for c in declared] == ["cross_entropy:fused"]
    assert declared[0]["reason"].startswith("its fused loss is the one-hot formula")
    assert got["deviations_file"].endswith("rosetta_tiny/deviations.toml")
    assert all(c["status"] == "pass" for c in got["checks"] if c["check"] != "cross_entropy:fused")
