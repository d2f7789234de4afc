"""torch data parallel (backends/torch_impl/distributed.py): K processes agree with one, and fail cleanly.

Each run starts real processes through torch's launcher with gloo on the CPU. Every test that
could hang runs in a subprocess of its own session, killed whole on a time limit, and checks
that no process of that session is left behind.
"""

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.backend import BackendError
from softmax_rosetta.testing import assert_within, require_backend

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 240  # seconds for any one command here; a healthy one takes a few


@pytest.fixture(scope="module")
def torch_backend():
    return require_backend("torch")


def _agree(cls, spec, dtype, workers):
    be = cls(dtype=dtype)
    one = be.train(spec)
    many = be.train(spec, workers=workers)
    tol = spec.tolerance(dtype)
    assert (many.workers, many.label, many.variant) == (workers, f"torch:x{workers}", "lesson")
    assert len(many.costs) == len(one.costs) == spec.epochs + 1
    assert_within(many.costs, one.costs, tol.cost, f"{spec.name} {dtype} costs, {workers} workers")
    assert_within(many.weight, one.weight, tol.param, f"{spec.name} {dtype} weight, {workers} workers")
    assert_within(many.bias, one.bias, tol.param, f"{spec.name} {dtype} bias, {workers} workers")
    assert many.accuracy == one.accuracy


# Shortened runs (still slow: each starts its ranks, which import torch) that still cover uneven shares
# (8 rows on 3 workers; synthetic's batches of 100 and 84 rows, shuffled, with Nesterov momentum and
# weight decay) and a real data set's mini-batches.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "epochs", "dtype", "workers"),
    [
        ("seed", 100, "float32", 2),
        ("seed", 100, "float64", 3),
        ("synthetic", 5, "float64", 3),
    ],
)
def test_data_parallel_agrees_with_one_process(torch_backend, name, epochs, dtype, workers):
    _agree(torch_backend, load_spec(name).replace(epochs=epochs), dtype, workers)


WHOLE = [(name, dtype) for name in ("seed", "iris", "digits", "synthetic") for dtype in ("float32", "float64")]


def _whole_specs_in_rank(jobs):
    """One launched rank: each (spec, dtype) of ``jobs`` through ``train_rank``, as ``_rank_main`` trains
    one run (gloo, one thread, full float32 precision), all in one process group: (costs, weight, bias)."""
    import torch
    import torch.distributed as dist

    from softmax_rosetta import get_backend
    from softmax_rosetta.backends.torch_impl.backend import full_float32_precision
    from softmax_rosetta.backends.torch_impl.distributed import train_rank

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        out = []
        for name, dtype in jobs:
            spec, be = load_spec(name), get_backend("torch", dtype=dtype)
            x, w, b = (
                be.to_native(np.asarray(a, be.np_dtype)) for a in (spec.x_train, spec.init_weight, spec.init_bias)
            )
            y = be.to_native(np.asarray(spec.y_train, np.int64))
            with full_float32_precision():
                run = train_rank(x, y, w, b, spec.lr, spec.epochs, batches=spec.batches, **spec.optimizer_options)
            out.append(tuple(be.to_numpy(t) for t in run))
        return out
    finally:
        dist.destroy_process_group()


@functools.cache
def _one_process(cls, name, dtype):
    """The whole spec trained in this process, once for both worker counts."""
    return cls(dtype=dtype).train(load_spec(name))


# Slow: every bundled spec, whole, in both dtypes, on 2 and 4 ranks. Starting the ranks (each imports
# torch) is nearly all of a run's time, so each worker count is one launch that trains all eight runs,
# each through train_rank, the loop train_data_parallel's ranks run; the quick tests above go through
# train(..., workers=K) and its launcher.
@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
def test_whole_specs_agree_with_one_process(torch_backend, workers):
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=workers,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    ranks = elastic_launch(config, _whole_specs_in_rank)(WHOLE)
    assert sorted(ranks) == list(range(workers))
    for (name, dtype), *each_rank in zip(WHOLE, *(ranks[r] for r in range(workers)), strict=True):
        spec, what = load_spec(name), f"{name} {dtype}, {workers} workers"
        costs, weight, bias = each_rank[0]
        for other in each_rank[1:]:  # every rank ends with the same numbers, to the bit
            assert all(np.array_equal(a, b) for a, b in zip(other, each_rank[0], strict=True)), what
        one = _one_process(torch_backend, name, dtype)
        tol = spec.tolerance(dtype)
        assert costs.dtype == one.costs.dtype and len(costs) == len(one.costs) == spec.epochs + 1, what
        assert_within(costs, one.costs, tol.cost, f"{what}: costs")
        assert_within(weight, one.weight, tol.param, f"{what}: weight")
        assert_within(bias, one.bias, tol.param, f"{what}: bias")
        predicted = np.argmax(np.asarray(spec.x_train, costs.dtype) @ weight.T + bias, axis=1)
        assert float(np.mean(predicted == spec.y_train)) == one.accuracy, what


@pytest.mark.parametrize(
    ("workers", "says"),
    [(0, "workers: must be an integer >= 1, got 0"), (9, "workers: 9 is more than the 8 rows of the spec's smallest")],
)
def test_bad_worker_counts_are_refused_before_any_process_starts(torch_backend, workers, says):
    with pytest.raises(BackendError, match=f"^{says}"):
        torch_backend().train(load_spec("seed"), workers=workers)


def _in_session(pid):
    """The processes still alive in session ``pid`` (a child started with start_new_session)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == pid and fields[0] != "Z":  # fields[3]: the session id
                alive.append(int(entry.name))
    return alive


def _run(argv, env=None, cwd=ROOT):
    """Run a command in a session of its own; on the time limit kill the whole session. After it ends,
    no process of its session may be left."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{argv} ran past {LIMIT} s")
    deadline = time.monotonic() + 10
    while _in_session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _in_session(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"{argv} left processes behind: {left}"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _cli(*argv, env=None):
    return _run([sys.executable, "-m", "softmax_rosetta.tools.cli", *argv], env=env)


@pytest.mark.slow
def test_train_command_prints_once_from_rank_0(torch_backend):
    one = _cli("train", "torch", "--dtype", "float64", "--epochs", "200")
    two = _cli("train", "torch", "--dtype", "float64", "--epochs", "200", "--workers", "2")
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    lines_one, lines_two = one.stdout.splitlines(), two.stdout.splitlines()
    assert [line.split(" cost: ")[0] for line in lines_two] == [line.split(" cost: ")[0] for line in lines_one]
    costs = [
        [float(line.split(" cost: ")[1]) for line in out if line.startswith("epoch")] for out in (lines_one, lines_two)
    ]
    assert_within(costs[1], costs[0], load_spec("seed").tolerance("float64").cost, "printed costs")
    assert "2 cpu workers (data parallel)" in two.stderr and two.stderr.count("\n") == 1, two.stderr


@pytest.mark.slow
def test_train_json_records_the_workers(torch_backend):
    out = _cli("train", "torch", "--epochs", "3", "--workers", "2", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["workers"] == 2 and len(result["costs"]) == 4


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["train", "numpy", "--workers", "2"], "workers: the numpy backend trains in one process"),
        (["train", "torch", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
        (["train", "torch", "--workers", "9"], "workers: 9 is more than the 8 rows"),
        (["train", "torch", "--variant", "fast", "--workers", "2"], "workers: the torch backend's fast variant"),
    ],
)
def test_bad_workers_are_one_line_at_the_command_line(torch_backend, argv, says):
    out = _cli(*argv)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_a_port_in_use_is_one_line(torch_backend):
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _cli("train", "torch", "--workers", "2", env={**os.environ, "MASTER_PORT": str(port)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert f"MASTER_PORT: can't listen on localhost:{port}" in out.stderr, out.stderr


KILLER = '''
import os
import signal

import torch.distributed as dist

from softmax_rosetta.data import Batches


class DiesOnRank1(Batches):
    """The spec's batches, except that rank 1 kills itself at epoch 3, between two collectives."""

    def __call__(self, epoch):
        if epoch == 3 and dist.get_rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(epoch)
'''

MAIN = """
import sys

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.backend import BackendError
from softmax_rosetta.backends.torch_impl.distributed import train_data_parallel
from killer import DiesOnRank1


def main():
    be = get_backend("torch")
    spec = load_spec("seed")
    x, y, w, b = (be.to_native(a) for a in (spec.x_train, spec.y_train, spec.init_weight, spec.init_bias))
    try:
        train_data_parallel(x, y, w, b, 0.1, 10, workers=2, batches=DiesOnRank1(8, 8))
    except BackendError as exc:
        print(exc)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


@pytest.mark.slow
def test_a_worker_that_dies_is_one_error_and_no_orphans(torch_backend, tmp_path):
    (tmp_path / "killer.py").write_text(textwrap.dedent(KILLER))
    (tmp_path / "main.py").write_text(textwrap.dedent(MAIN))
    start = time.monotonic()
    out = _run([sys.executable, str(tmp_path / "main.py")], cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.startswith("workers: rank 1 (pid ") and out.stdout.endswith(") was killed by SIGKILL\n"), (
        out.stdout
    )
    assert time.monotonic() - start < 60


@pytest.mark.slow
def test_compare_checks_the_data_parallel_runs(torch_backend, tmp_path):
    out = _cli(
        "compare", "--backends", "numpy,torch", "--spec", "seed", "--workers", "2", "--no-plots", "--out", str(tmp_path)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    text = json.dumps(report)
    assert "torch:x2" in text
    checked = [c for c in report.get("checks", []) if "torch:x2" in json.dumps(c)]
    assert checked and all(c["passed"] for c in checked), checked
