"""dev.py runs pytest with pytest-xdist workers, one per core, unless the arguments choose otherwise."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workers_are_one_per_core_this_process_may_use(dev):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert dev._cores() == cores
    assert dev._workers(["-m", "not slow", "-q"]) == ["-n", str(cores), "--dist", dev.DIST, "-m", "not slow", "-q"]
    assert dev.DIST in ("load", "loadscope", "loadfile", "loadgroup", "worksteal")


@pytest.mark.parametrize(
    "args, added",
    [
        (["-n", "0", "tests/test_spec.py"], ["--dist", "DIST"]),  # -n 0: one process (xdist ignores --dist)
        (["-n0"], ["--dist", "DIST"]),
        (["--numprocesses=3"], ["--dist", "DIST"]),
        (["--dist", "loadfile"], ["-n", "CORES"]),
        (["--dist=load", "-n", "1"], []),
        (["-x", "--pdb"], []),  # pdb needs the tests in this process
        (["--trace"], []),
        (["-p", "no:xdist"], []),
        (["-pno:xdist"], []),
    ],
)
def test_arguments_of_your_own_replace_ours(dev, args, added):
    values = {"DIST": dev.DIST, "CORES": str(dev._cores())}
    assert dev._workers(args) == [values.get(a, a) for a in added] + args
