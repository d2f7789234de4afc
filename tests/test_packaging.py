"""The wheel: one top-level package, ``softmax_rosetta``, that works beside anyone's ``common``.

The repository's folders are mapped into the package by setuptools' package-dir (common/ ->
softmax_rosetta, backends/ -> softmax_rosetta.backends, tools/ -> softmax_rosetta.tools), so an
installed copy must hold ``softmax_rosetta/`` alone, with its spec TOMLs and data files, and must
never import a top-level ``common`` or ``backends``. These tests build the wheel, install it in a
fresh venv (NumPy alone) beside another distribution that owns a top-level ``common``, and run the
command line from a folder whose own ``common/`` and ``backends/`` raise ImportError when imported.

The wheel is built from a copy of the source tree, so that setuptools' build/ folder in the
repository (which keeps files deleted since the last build) can't put stale modules in it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from softmax_rosetta import load_spec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: the repository's folders and the packages they install as
MAPPED = {"common": "softmax_rosetta", "backends": "softmax_rosetta/backends", "tools": "softmax_rosetta/tools"}
TIMEOUT = 300
UNSET = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "VIRTUAL_ENV")
TRAP = 'raise ImportError("the working folder\'s {name}/ was imported: softmax_rosetta must not import it")\n'


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"


def _require_build_tools() -> None:
    if importlib.util.find_spec("pip") is None:
        pytest.skip("building the wheel needs pip in this environment")
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        pytest.skip("building the wheel needs setuptools >= 77 in this environment (pyproject's build-system)")
    if int(version.split(".")[0]) < 77:
        pytest.skip(f"building the wheel needs setuptools >= 77 (pyproject's build-system); here: {version}")


def _build_wheel(source: Path, out: Path) -> Path:
    """pip wheel SOURCE --no-deps --no-build-isolation: this environment's setuptools, no network."""
    proc = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            source,
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            out,
        ],
        cwd=source,
    )
    assert proc.returncode == 0, f"pip wheel {source.name} failed:\n{_output(proc)}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, f"pip wheel {source.name} wrote {[w.name for w in wheels]}"
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This project's wheel, built from a copy of the source tree."""
    _require_build_tools()
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "softmax-rosetta"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".hypothesis",
            ".pytest_cache",
            ".ruff_cache",
            ".mypy_cache",
            "reports",
        ),
    )
    return _build_wheel(source, tmp / "dist")


@pytest.fixture(scope="module")
def other_common_wheel(tmp_path_factory) -> Path:
    """A wheel of another distribution, other-common, whose top-level package is ``common``."""
    _require_build_tools()
    source = tmp_path_factory.mktemp("other-common") / "src"
    (source / "common").mkdir(parents=True)
    (source / "common" / "__init__.py").write_text('"""Another distribution\'s common."""\n\nWHO = "other-common"\n')
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "other-common"\nversion = "1.0"\n\n'
        '[tool.setuptools]\npackages = ["common"]\n'
    )
    return _build_wheel(source, source.parent / "dist")


def _clean_env(bin_dir: Path | None = None) -> dict[str, str]:
    """The environment without anything that points Python at this checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("SOFTMAX_ROSETTA_")}
    if bin_dir is not None:
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    return env


def _requirements(wheel):
    """The wheel's core requirements (its Requires-Dist lines without an extra), as pip arguments."""
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(metadata).decode().splitlines()
    requires = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    return [r for r in requires if "extra ==" not in r]


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel, other_common_wheel):
    """A fresh venv (no system site-packages) with NumPy, this project's wheel and other-common;
    returns (python, softmax-rosetta script, working folder with trap common/ and backends/, env)."""
    tmp = tmp_path_factory.mktemp("installed")
    env_dir = tmp / "venv"
    proc = _run([sys.executable, "-m", "venv", env_dir], cwd=tmp, env=_clean_env())
    if proc.returncode:
        reason = "python -m venv can't make a venv with pip here (Debian: apt-get install python3-venv)"
        pytest.skip(f"{reason}:\n{_output(proc)}")
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    env = _clean_env(bin_dir)
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", ROOT / "constraints.txt"]
    # The wheel's own requirements (NumPy and the rest of its core), at the versions constraints.txt
    # pins, from pip's cache, its configured indexes or PyPI; where none can serve them, that is this
    # machine, not the package.
    proc = _run([*pip, *_requirements(wheel)], cwd=tmp, env=env)
    if proc.returncode:
        reason = "could not install the wheel's requirements into a fresh venv (no network, no cached wheels?)"
        pytest.skip(f"{reason}:\n{_output(proc)}")
    # The two wheels, offline: their requirements are already there, so a failure here is the wheel's.
    proc = _run([*pip, "--no-index", wheel, other_common_wheel], cwd=tmp, env=env)
    assert proc.returncode == 0, f"installing {wheel.name} and {other_common_wheel.name} failed:\n{_output(proc)}"
    work = tmp / "work"
    for name in ("common", "backends"):
        (work / name).mkdir(parents=True)
        (work / name / "__init__.py").write_text(TRAP.format(name=name))
    return python, bin_dir / "softmax-rosetta", work, env


def test_the_wheel_holds_softmax_rosetta_alone_with_its_specs_and_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    top = {n.split("/")[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"softmax_rosetta"}, f"top level of {wheel.name}: {sorted(top)}"
    assert len(dist_info) == 1
    (info,) = dist_info
    assert f"{info}/licenses/LICENSE" in names
    # every module of the three folders, where package-dir maps it (a subpackage missing from
    # pyproject's packages list would be left out of the wheel without a word)
    missing = []
    for folder, package in MAPPED.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                installed_as = f"{package}/{path.relative_to(ROOT / folder).as_posix()}"
                if installed_as not in names:
                    missing.append(installed_as)
    # the spec TOMLs and data files next to the code that reads them
    for pattern in ("specs/*.toml", "data/*"):
        for path in sorted((ROOT / "common").glob(pattern)):
            if f"softmax_rosetta/{path.relative_to(ROOT / 'common').as_posix()}" not in names:
                missing.append(f"softmax_rosetta/{path.relative_to(ROOT / 'common').as_posix()}")
    # each backend's docs.toml beside its module (what the docs show of it)
    for path in sorted((ROOT / "backends").glob("*/docs.toml")):
        if f"softmax_rosetta/backends/{path.relative_to(ROOT / 'backends').as_posix()}" not in names:
            missing.append(f"softmax_rosetta/backends/{path.relative_to(ROOT / 'backends').as_posix()}")
    for name in (
        "softmax_rosetta/py.typed",
        "softmax_rosetta/specs/seed.toml",
        "softmax_rosetta/data/iris.csv",
        "softmax_rosetta/data/digits.csv.gz",
        "softmax_rosetta/tools/conform/data/torch_samples.npz",  # the conformance kit's torch samples
    ):
        if name not in names:
            missing.append(name)
    assert not missing, f"{wheel.name} lacks: {', '.join(sorted(set(missing)))}"


@pytest.mark.parametrize("launcher", ["script", "python -m"])
def test_train_runs_from_the_wheel_beside_other_common_packages(installed, launcher):
    """``python -m`` puts the working folder first on sys.path: its common/ and backends/ would
    shadow any top-level import of those names (and raise); the console script is what users run."""
    python, script, work, env = installed
    cmd = [script] if launcher == "script" else [python, "-m", "softmax_rosetta.tools.cli"]
    proc = _run([*cmd, "train", "numpy", "--log-every", "500"], cwd=work, env=env)
    assert proc.returncode == 0, _output(proc)
    epochs = re.findall(r"^epoch: (\d+) cost: (\S+)$", proc.stdout, flags=re.M)
    assert [int(e) for e, _ in epochs] == [0, 500, 1000], _output(proc)
    spec = load_spec("seed")
    last = float(epochs[-1][1])
    tolerance = spec.tolerance("float32").expected_cost
    assert abs(last - spec.expected_costs[-1]) <= tolerance, (
        f"last cost {last!r}, the lesson's {spec.expected_costs[-1]!r} (tolerance {tolerance})"
    )
    assert "train accuracy: 1.0000" in proc.stdout


def test_compare_passes_from_the_wheel_beside_other_common_packages(installed, tmp_path):
    python, script, work, env = installed
    out = tmp_path / "report"
    proc = _run(
        [script, "compare", "--backends", "numpy", "--dtypes", "float64", "--no-plots", "--out", out], cwd=work, env=env
    )
    assert proc.returncode == 0, _output(proc)
    report = (out / "report.md").read_text()
    first = report.splitlines()[0]
    assert re.match(r"# \*\*PASS\*\*", first), f"report.md's verdict: {first}"
    assert "FAIL" not in report


def test_import_common_still_gives_the_other_distribution(installed):
    """-P: the working folder is not put on sys.path, as for any installed program."""
    python, script, work, env = installed
    code = (
        "import sys, common, softmax_rosetta\n"
        "import softmax_rosetta.tools.cli, softmax_rosetta.backends.numpy_impl.backend\n"
        "print(common.WHO); print(common.__file__); print(softmax_rosetta.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('backends', 'tools')))\n"
    )
    proc = _run([python, "-P", "-c", code], cwd=work, env=env)
    assert proc.returncode == 0, _output(proc)
    who, common_file, package_file, stray = proc.stdout.splitlines()
    site = python.parent.parent.resolve()
    assert who == "other-common"
    assert Path(common_file).resolve().is_relative_to(site), common_file
    assert Path(package_file).resolve().is_relative_to(site), f"softmax_rosetta from {package_file}, not the venv"
    assert stray == "[]", f"top-level modules imported by softmax_rosetta: {stray}"
