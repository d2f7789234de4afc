"""A newcomer's first hour (issue 23): the README's Quick start and tour, followed on this checkout.

``python3 dev.py run ARGS...`` runs ``softmax-rosetta ARGS...`` in the repository's own ``.venv``: a real
run, only where that venv is set up and up to date (dev.py's stamp), since a stale one would be rebuilt
(minutes). The README says how to use the venv, and why its sample costs' last digits depend on the CPU.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from softmax_rosetta import load_spec

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(title: str) -> str:
    return README.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def dev_run():
    """``python3 dev.py run ARGS`` in a folder: (exit status, stdout, stderr); the venv is never rebuilt."""
    dev = _dev()
    venv = ROOT / ".venv"
    if not dev.up_to_date(venv):
        pytest.skip(f"{venv} is missing or not up to date: `dev.py run` would rebuild it (python3 dev.py test does)")
    stamp = (venv / dev.STAMP).stat().st_mtime_ns

    def run(*args: str, cwd: Path) -> tuple[int, str, str]:
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "dev.py"), "run", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc.returncode, proc.stdout, proc.stderr

    yield run
    assert (venv / dev.STAMP).stat().st_mtime_ns == stamp, "dev.py run rebuilt .venv"


def test_dev_py_run_is_the_venvs_softmax_rosetta(dev_run, tmp_path):
    code, out, err = dev_run("specs", cwd=tmp_path)
    assert (code, err) == (0, "")  # no set-up line: the venv was up to date
    direct = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "softmax-rosetta"), "specs"], capture_output=True, text=True, timeout=120
    )
    assert out == direct.stdout and re.search(r"(?m)^seed +8 x 4 -> 3 ", out)


ERROR = "softmax-rosetta: error: "
COST0 = "epoch: 0 cost: 1.6167852878570557\n"


@pytest.mark.parametrize(
    "args, status, stdout, stderr",
    [
        # a usage mistake: the command's one line and exit status 2, no traceback from dev.py
        (["specs", "--copy", "seed", "nowhere/my.toml"], 2, "", ERROR + "specs --copy: no such folder 'nowhere'\n"),
        (["train", "theano"], 2, "", ERROR + "backend: unknown backend 'theano'; known: numpy, torch, jax, mlx\n"),
        # a run that fails: 1, its own line
        (
            ["train", "numpy", "--epochs", "2", "--lr", "1e38", "--quiet"],
            1,
            COST0,
            "softmax-rosetta: numpy diverged at epoch 1: cost nan (float32, lr 1e+38); training stopped there. "
            "Try a smaller --lr.\n",
        ),
        # success: its output alone on stdout
        (["train", "numpy", "--epochs", "1", "--log-every", "1", "--quiet"], 0, COST0 + "epoch: 1 cost: ", ""),
    ],
)
def test_dev_py_run_passes_the_exit_status_and_the_lines_through(dev_run, tmp_path, args, status, stdout, stderr):
    got = dev_run(*args, cwd=tmp_path)
    assert (got[0], got[2]) == (status, stderr) and got[1].startswith(stdout)
    direct = subprocess.run(
        [str(ROOT / ".venv/bin/softmax-rosetta"), *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert got == (direct.returncode, direct.stdout, direct.stderr)  # the same as calling it by its path


def test_dev_py_run_works_in_the_folder_it_is_called_from(dev_run, tmp_path):
    code, out, err = dev_run("specs", "--copy", "seed", "my.toml", cwd=tmp_path)
    assert code == 0, err
    assert load_spec(tmp_path / "my.toml").name == "my" and not (ROOT / "my.toml").exists()


def test_the_quick_start_says_how_to_use_the_venv():
    quick = _section("Quick start")
    for way in ("python3 dev.py run", ".venv/bin/softmax-rosetta", "source .venv/bin/activate"):
        assert way in quick, way
    assert "command not found" in quick
    assert "python3 dev.py run" in _section("A tour")
    assert "dev.py run" in (ROOT / "dev.py").read_text().split('"""')[1]  # the docstring: its usage text


def test_the_sample_costs_say_their_last_digits_depend_on_the_cpu():
    tour = _section("A tour")
    spec = load_spec("seed")
    tol = spec.tolerance("float32").expected_cost
    printed = {int(e): float(c) for e, c in re.findall(r"(?m)^epoch: (\d+) cost: (\S+)$", tour)}
    assert len(printed) >= 3
    for epoch, cost in printed.items():  # the sample is the lesson's printout, within its tolerance
        assert abs(cost - spec.expected_costs[epoch // spec.expected_every]) <= tol, epoch
    words = " ".join(tour.split())
    other, ours = re.search(r"`(0\.\d{10,})` for `(0\.\d{10,})`", words).groups()
    assert float(ours) == printed[100] and other != ours and abs(float(other) - float(ours)) <= tol
    assert "another CPU" in words and "another order" in words and "float32" in words
    link = re.search(r"\]\((docs/specs\.md)#([\w-]+)\)", words)
    headings = (ROOT / link.group(1)).read_text().splitlines()
    anchors = {
        re.sub(r"[^\w\- ]", "", h.lstrip("#").strip().lower()).replace(" ", "-") for h in headings if h.startswith("#")
    }
    assert link.group(2) in anchors


def test_the_jupyter_extra_opens_the_notebooks_and_is_pinned():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert (
        any(r.startswith("jupyterlab") for r in extras["jupyter"]) and "softmax-rosetta[notebooks]" in extras["jupyter"]
    )
    assert "jupyter" not in extras["all"][0]  # some 90 packages: dev.py's .venv does without them
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"(?m)^jupyterlab==\d+\.\d+\.\d+$", pins)
    first = README[: README.index("\n## ")]  # where the README sends learners to the notebooks
    words = " ".join(first.split())
    assert "pip install -e '.[all,jupyter]' -c constraints.txt" in words and ".venv/bin/jupyter lab notebooks/" in words
