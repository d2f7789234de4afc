#!/usr/bin/env python3
"""Set up and run softmax-rosetta on a machine that has only python3 (3.11+).

    python3 dev.py demo    # set up .venv, train every backend on the seed spec, show that they agree
    python3 dev.py run train torch   # set up .venv, run `softmax-rosetta train torch` in it (any command)
    python3 dev.py test    # set up .venv, run the whole test suite (one pytest-xdist worker per core)
    python3 dev.py test --quick   # the same without the slow and browser tests (pytest -m)
    python3 dev.py test -n 0 ...  # one process, no workers: for --pdb, print-debugging, a single test
    python3 dev.py numpy-only   # a second venv with NumPy alone: the NumPy backend works, the others skip
    python3 dev.py newest  # a third venv with the newest releases pyproject.toml allows: the quick tests
    python3 dev.py lint    # ruff (lint and format) and mypy, as CI runs them

The set-up creates ``.venv`` beside this file and installs the project with every extra,
pinned by ``constraints.txt`` (torch 2.13.0: a CPU build, not a CUDA build of several GB).
It is skipped when nothing it depends on has changed. Arguments after the command go to
pytest (``test``), to ``softmax-rosetta compare`` (``demo``) or to ``softmax-rosetta`` (``run``).
``test``, ``numpy-only`` and ``newest`` run pytest with one pytest-xdist worker per core the
process may use (``-n N --dist DIST``); an ``-n`` or ``--dist`` among the arguments replaces
ours (``-n 0``: one process, as ``--pdb`` needs; ``--pdb`` and ``--trace`` get it by themselves).

The ``softmax-rosetta`` command lives in the venv, not on the PATH: run it as
``python3 dev.py run ARGS...``, as ``.venv/bin/softmax-rosetta ARGS...``, or after
``source .venv/bin/activate``. ``run`` starts it in place of dev.py (in the folder you are in),
so its exit status, its output and the signals sent to it are its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
#: the tests ``dev.py test --quick`` runs (a pytest -m expression)
QUICK = "not slow and not browser"
#: how pytest-xdist hands tests to the workers (``_workers``): each starts with one contiguous half of the
#: tests (a module's fixtures mostly run once) and an idle one takes over the other's unstarted tests
DIST = "worksteal"


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _setup(env_dir: Path, requirement: str, extra_packages: list[str], constraints: Path | None = None) -> Path:
    """Create the venv and install into it, pinned by ``constraints`` (default: constraints.txt),
    unless an identical install is already there."""
    constraints = constraints or ROOT / "constraints.txt"
    stamp = _stamp(requirement, extra_packages, constraints)
    python = _python(env_dir)
    if up_to_date(env_dir, requirement, extra_packages, constraints):
        return python
    # set-up chatter goes to stderr: the stdout of ``dev.py run`` is the command's alone
    print(f"setting up {env_dir.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    venv.create(env_dir, with_pip=True, clear=python.exists())
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(constraints)]
    _check(_run(pip + ["-e", requirement, *extra_packages], stdout=sys.stderr))
    (env_dir / STAMP).write_text(stamp)
    return python


#: the file in a venv that records what was installed into it (``_stamp``)
STAMP = ".softmax-rosetta-installed"


def _stamp(requirement: str, extra_packages: list[str], constraints: Path) -> str:
    """What a venv's install depends on: the requirement, the packages, Python, pyproject.toml, the pins."""
    parts = [
        requirement,
        *extra_packages,
        sys.version,
        *(p.read_text() for p in (ROOT / "pyproject.toml", constraints)),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def up_to_date(
    env_dir: Path, requirement: str = ".[all]", extra_packages: list[str] | None = None, constraints: Path | None = None
) -> bool:
    """Whether ``env_dir`` holds this install already, so that ``_setup`` leaves it as it is."""
    stamp_file = env_dir / STAMP
    return bool(
        _python(env_dir).exists()
        and stamp_file.exists()
        and stamp_file.read_text() == _stamp(requirement, extra_packages or [], constraints or ROOT / "constraints.txt")
    )


def _script(env_dir: Path) -> Path:
    """The ``softmax-rosetta`` command installed in the venv."""
    return env_dir / ("Scripts/softmax-rosetta.exe" if os.name == "nt" else "bin/softmax-rosetta")


def _exec(cmd: list[str]) -> int:
    """Run ``cmd`` in place of this process, in the current folder: on POSIX by exec, so its exit status,
    its output (a closed stdout too) and the signals sent to it are its own; elsewhere as a child whose
    exit status is passed through. A command that can't start is one line on stderr, exit status 127."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if os.name == "posix":
            os.execv(cmd[0], cmd)
        return subprocess.call(cmd)
    except KeyboardInterrupt:  # Windows: Ctrl-C reached the child too; it has said so
        return 130
    except OSError as exc:
        print(f"dev.py: can't run {cmd[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127


def _newest() -> Path:
    """.venv-newest: every extra at the newest release pyproject.toml allows, as a user gets without
    constraints.txt; torch alone stays pinned (a newer torch from PyPI is a CUDA build of several GB).
    Upgraded on every call, so a dependency's new release shows up here first."""
    env_dir = ROOT / ".venv-newest"
    env_dir.mkdir(exist_ok=True)
    torch_only = env_dir / "constraints-torch.txt"
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch==")]
    torch_only.write_text("\n".join(pins) + "\n")
    python = _setup(env_dir, ".[all]", [], constraints=torch_only)
    upgrade = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade"]
    _check(_run([*upgrade, "--upgrade-strategy", "eager", "-c", str(torch_only), "-e", ".[all]"]))
    return python


def _cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, as in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _workers(args: list[str]) -> list[str]:
    """pytest's arguments with one pytest-xdist worker per core (``-n``) and the measured ``--dist``
    in front, each unless ``args`` give their own (``-n 0``: one process, no workers). ``--pdb``,
    ``--trace`` and ``-p no:xdist`` need the tests in this process: then ``args`` alone."""
    if any(a.startswith(("--pdb", "--trace")) for a in args) or "no:xdist" in args or "-pno:xdist" in args:
        return args
    own = []
    if not any(a.startswith(("-n", "--numprocesses")) for a in args):
        own += ["-n", str(_cores())]
    if not any(a.startswith("--dist") for a in args):
        own += ["--dist", DIST]
    return [*own, *args]


def _run(cmd: list[str], env: dict[str, str] | None = None, stdout: Any = None) -> int:
    code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=stdout)
    if code:
        print(f"dev.py: {' '.join(cmd[:4])} ... exited with {code}", file=sys.stderr)
    return code


def _check(code: int) -> None:
    if code:
        sys.exit(code)


def _typecheck_tree() -> Path:
    """build/typecheck/softmax_rosetta: the package as it installs, made of links to the repository's
    files (common/ is softmax_rosetta, backends/ and tools/ its subpackages), for mypy, which can't
    follow setuptools' package-dir mapping by itself."""
    tree = ROOT / "build" / "typecheck"
    package = tree / "softmax_rosetta"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for item in sorted((ROOT / "common").iterdir()):
        if item.name != "__pycache__":
            (package / item.name).symlink_to(item)
    for sub in ("backends", "tools"):
        (package / sub).symlink_to(ROOT / sub)
    return tree


def _lint(python: Path) -> int:
    """ruff (lint and format) on the repository, then mypy on the package."""
    code = _run([str(python), "-m", "ruff", "check", "."])
    code |= _run([str(python), "-m", "ruff", "format", "--check", "."])
    tree = _typecheck_tree()
    proc = subprocess.run(
        [str(python), "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "softmax_rosetta"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    # name each file where it lives in the repository, not where the link tree has it
    for prefix, folder in (
        ("softmax_rosetta/backends/", "backends/"),
        ("softmax_rosetta/tools/", "tools/"),
        ("softmax_rosetta/", "common/"),
    ):
        proc = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.replace(prefix, folder), proc.stderr)
    print(proc.stdout, end="", file=sys.stdout)
    print(proc.stderr, end="", file=sys.stderr)
    if proc.returncode:
        print(f"dev.py: mypy exited with {proc.returncode}", file=sys.stderr)
    return code | proc.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "run", "test", "numpy-only", "newest", "lint"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs under whatever python3 the machine has)
        print("dev.py: softmax-rosetta needs Python 3.11 or newer", file=sys.stderr)
        return 2
    if command == "numpy-only":
        # Only NumPy and the test tools: proves the frameworks are optional and imported lazily.
        python = _setup(ROOT / ".venv-numpy-only", ".", ["pytest", "pytest-xdist", "hypothesis"])
        env = {**os.environ, "SOFTMAX_ROSETTA_REQUIRE": ""}
        _check(_run([str(python), "-m", "pytest", *_workers(rest)], env=env))
        return _run([str(python), "-m", "softmax_rosetta.tools.cli", "train", "numpy", "--log-every", "500"])
    if command == "newest":
        python = _newest()
        names = [
            "numpy",
            "torch",
            "jax",
            "flax",
            "optax",
            "mlx",
            "numba",
            "tomlkit",
            "safetensors",
            "matplotlib",
            "pytest",
        ]
        show = f"from importlib.metadata import version as v; print('newest:', *(n + ' ' + v(n) for n in {names!r}))"
        _run([str(python), "-c", show])
        env = {**os.environ, "SOFTMAX_ROSETTA_REQUIRE": "all"}
        return _run([str(python), "-m", "pytest", *_workers(["-m", QUICK, *rest])], env=env)
    python = _setup(ROOT / ".venv", ".[all]", [])
    if command == "run":
        return _exec([str(_script(ROOT / ".venv")), *rest])
    if command == "demo":
        return _run([str(python), "-m", "softmax_rosetta.tools.cli", "compare", *rest])
    if command == "lint":
        return _lint(python)
    if "--quick" in rest:
        # The markers are registered in pyproject.toml: slow (more than about a second), browser (Chromium).
        rest = ["-m", QUICK, *(a for a in rest if a != "--quick")]
    # Everything was installed, so a backend missing now is a failure, not a skip.
    env = {**os.environ, "SOFTMAX_ROSETTA_REQUIRE": "all"}
    return _run([str(python), "-m", "pytest", *_workers(rest)], env=env)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # during the set-up: one line, as softmax-rosetta says it
        print("dev.py: interrupted", file=sys.stderr)
        sys.exit(130)
