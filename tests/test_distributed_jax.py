"""JAX data-parallel training (backends/jax_impl/distributed.py) agrees with one device.

The test process's JAX has one CPU device, and JAX can't add more once it runs: each K = 2 run goes
to a fresh process with JAX_NUM_CPU_DEVICES=2, as ``softmax-rosetta train --workers`` sends it
(``Backend.process_env``). The spec's tolerances for its dtype are the bar, as between backends.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from softmax_rosetta import get_backend
from softmax_rosetta.backend import BackendError
from softmax_rosetta.compare import check_pair
from softmax_rosetta.results import TrainResult
from softmax_rosetta.spec import load_spec
from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools import worker
from softmax_rosetta.tools.cli import main as cli


@pytest.fixture(autouse=True)
def _jax():
    """Every test here runs jax: skipped with the reason (or failed under SOFTMAX_ROSETTA_REQUIRE=all) without it."""
    require_backend("jax")


TIMEOUT = 300  # seconds for one child process; a hung one fails the test instead of the suite


@pytest.fixture(scope="module")
def single():
    """One-device runs, cached: (spec, dtype) -> TrainResult."""
    runs = {}

    def run(spec, dtype):
        if (spec, dtype) not in runs:
            runs[spec, dtype] = get_backend("jax", dtype=dtype).train(load_spec(spec))
        return runs[spec, dtype]

    return run


def data_parallel(spec, dtype, workers=2):
    be = get_backend("jax", dtype=dtype)
    env = be.process_env(workers)
    outcome = worker.run(
        "softmax_rosetta.tools.train:train_in_child",
        {"backend": "jax", "spec": spec, "dtype": dtype, "device": "cpu", "workers": workers, "options": {}},
        env={**os.environ, **env},
        timeout=TIMEOUT,
    )
    assert outcome.ok, outcome.error + "\n" + outcome.log
    return TrainResult.from_dict(outcome.result)


def assert_agrees(result, reference, spec):
    assert result.workers == 2 and result.label == "jax:x2"
    assert result.costs.dtype == reference.costs.dtype and result.costs.shape == reference.costs.shape
    for check in check_pair(result, reference, load_spec(spec)):
        assert check.passed, check.line()
    assert result.accuracy == reference.accuracy


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_workers_agree_with_one_device_on_the_seed(single, dtype):
    assert_agrees(data_parallel("seed", dtype), single("seed", dtype), "seed")


# Every other bundled spec, whole, in both dtypes: one fresh process with 2 CPU devices trains them all
# (starting jax is most of a run's time); the quick tests go through worker.run, as the command line does.
SEVERAL = """
import json, sys
from softmax_rosetta import get_backend, load_spec
for spec, dtype in json.loads(sys.argv[1]):
    result = get_backend("jax", dtype=dtype).train(load_spec(spec), workers=2)
    print("RESULT " + json.dumps(result.to_dict()), flush=True)
"""


@pytest.mark.slow
def test_two_workers_agree_with_one_device(single):
    runs = [(spec, dtype) for spec in ("iris", "digits", "synthetic") for dtype in ("float64", "float32")]
    env = {**os.environ, **get_backend("jax").process_env(2)}
    done = subprocess.run(
        [sys.executable, "-c", SEVERAL, json.dumps(runs)], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line[len("RESULT ") :] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == len(runs), done.stdout + done.stderr[-3000:]
    for (spec, dtype), line in zip(runs, lines, strict=True):
        result = TrainResult.from_dict(json.loads(line))
        assert (result.spec, result.dtype) == (spec, dtype)
        assert_agrees(result, single(spec, dtype), spec)


@pytest.mark.slow
def test_the_command_line_runs_two_workers_in_a_fresh_process(single, capsys):
    assert cli(["train", "jax", "--workers", "2", "--dtype", "float64", "--json"]) == 0
    result = TrainResult.from_dict(json.loads(capsys.readouterr().out))
    assert result.settings["xla_flags"] == os.environ.get("XLA_FLAGS", "")
    assert_agrees(result, single("seed", "float64"), "seed")


@pytest.mark.slow
def test_a_batch_with_rows_that_dont_divide_by_the_workers_keeps_the_global_mean(single):
    # seed's 8 rows on 3 workers: 3 + 3 + 2, one padding row masked out
    spec = load_spec("seed")
    ref = single("seed", "float64")
    be = get_backend("jax", dtype="float64")
    outcome = worker.run(
        "softmax_rosetta.tools.train:train_in_child",
        {"backend": "jax", "spec": "seed", "dtype": "float64", "device": "cpu", "workers": 3, "options": {}},
        env={**os.environ, **be.process_env(3)},
        timeout=TIMEOUT,
    )
    assert outcome.ok, outcome.error
    result = TrainResult.from_dict(outcome.result)
    assert result.label == "jax:x3"
    for check in check_pair(result, ref, spec):
        assert check.passed, check.line()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "jax", "--workers", "9"], "workers: 9 is more than the 8 rows of the spec's smallest batch"),
        (["train", "numpy", "--workers", "2"], "workers: the numpy backend trains in one process"),
        (["train", "jax", "--workers", "2", "--variant", "fused"], "workers: the jax backend's fused variant"),
    ],
)
def test_bad_worker_counts_are_one_line(argv, message, capsys):
    assert cli(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err


def test_workers_below_one_are_refused():
    be = get_backend("jax")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(BackendError, match=r"^workers: must be an integer >= 1"):
            be.train(load_spec("seed"), workers=bad)


def test_more_workers_than_devices_in_this_process_names_the_setting():
    import jax

    from softmax_rosetta.backends.jax_impl.distributed import make_mesh

    have = len(jax.devices("cpu"))
    with pytest.raises(BackendError, match=f"JAX_NUM_CPU_DEVICES={have + 1}"):
        make_mesh(have + 1, "cpu")


def test_a_worker_process_that_dies_is_one_line(monkeypatch, capsys):
    from softmax_rosetta.backends.jax_impl.backend import JaxBackend

    # XLA aborts the process on a flag it doesn't know: a real crash of the training process
    crash = {"JAX_NUM_CPU_DEVICES": "2", "XLA_FLAGS": "--no_such_xla_flag_for_this_test"}
    monkeypatch.setattr(JaxBackend, "process_env", lambda self, workers: crash)
    assert cli(["train", "jax", "--workers", "2"]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert "workers: the jax training process (JAX_NUM_CPU_DEVICES=2 XLA_FLAGS=" in err and "failed" in err


# Two processes joined by jax.distributed.initialize, one CPU device each, gloo for the collectives.
PROCESS = """
import json, sys
from softmax_rosetta.backends.jax_impl.distributed import initialize
initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]), timeout=60)
from softmax_rosetta import get_backend, load_spec
result = get_backend("jax", dtype=sys.argv[3]).train(load_spec("seed"), workers=2)
print("RESULT " + json.dumps(result.to_dict()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_processes_agree_with_one_device(single, dtype):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, f"127.0.0.1:{port}", str(rank), dtype],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:  # a hung rank is killed, not left behind
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
        results.append(TrainResult.from_dict(json.loads(line[len("RESULT ") :])))
    assert (results[0].costs == results[1].costs).all() and (results[0].weight == results[1].weight).all()
    assert_agrees(results[0], single("seed", dtype), "seed")
