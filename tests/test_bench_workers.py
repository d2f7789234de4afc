"""``softmax-rosetta bench --workers``: data-parallel training timed at each worker count.

Speed is measured by the benchmark, never asserted here: these tests check the option, the
plumbing, the clock inside the loop, and that the tables say what the numbers are.
"""

import json
import os
import pickle
import subprocess
import sys

import pytest

from softmax_rosetta.registry import available_backends, backend_class
from softmax_rosetta.tools.bench import Options, command, run, runner, scaling, scaling_report
from softmax_rosetta.tools.cli import main
from softmax_rosetta.tools.options import UsageError

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
TIMEOUT = 300  # seconds for one child process


def _error(capsys, argv):
    """Exit status 2 (argparse's mistakes leave by SystemExit), nothing on stdout, one line on stderr: that line."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err.rstrip("\n")


# --- the option -----------------------------------------------------------------------------


def test_worker_counts_parse_as_the_other_lists_do():
    assert command.worker_counts("1,2") == (1, 2)
    assert command.worker_counts(" 2, 1 ,") == (2, 1)
    assert command.worker_counts("4") == (4,)


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "must be >= 1, got 0"),
        ("1,x", "expected an integer, got 'x'"),
        ("1,2,1", "1 is given twice"),
        (",", "expected worker counts like 1,2, got ','"),
    ],
)
def test_a_bad_worker_count_is_one_line(value, message, capsys):
    err = _error(capsys, ["bench", "--workers", value, "--no-progress"])
    assert err == f"softmax-rosetta bench: error: argument --workers: {message} (see --help)"


def test_more_workers_than_cpus_is_one_line_before_anything_runs(capsys):
    err = _error(capsys, ["bench", "--workers", f"1,{CPUS + 1}", "--no-progress"])
    assert err == (
        f"softmax-rosetta: error: --workers: {CPUS + 1} workers x 1 thread(s) need {CPUS + 1} CPUs; "
        f"this process may use {CPUS}"
    )
    err = _error(capsys, ["bench", "--workers", str(CPUS), "--threads", "2", "--no-progress"])
    assert err.endswith(f"need {2 * CPUS} CPUs; this process may use {CPUS}")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--variants", "fast"], "--variants: not with --workers: data-parallel runs train the lesson variant"),
        (["--device", "cuda"], "--workers: data-parallel timing runs on the CPU only, not --device cuda"),
        (["--epochs", "1"], "--epochs: timing inside a data-parallel loop needs at least 2 epochs"),
        (["--workloads", "L,X"], "--workloads: unknown workload 'X'; known: T, M, L"),
    ],
)
def test_what_workers_cant_be_combined_with_is_one_line(extra, message, capsys):
    if CPUS < 2:
        pytest.skip("needs 2 CPUs for 2 workers")
    err = _error(capsys, ["bench", "--workers", "1,2", *extra, "--no-progress"])
    assert err.startswith(f"softmax-rosetta: error: {message}")


def test_a_backend_without_data_parallel_alone_is_one_line(capsys):
    err = _error(capsys, ["bench", "--workers", "1", "--backends", "numpy", "--no-progress"])
    assert err == "softmax-rosetta: error: --workers: none of numpy trains data parallel (Backend.data_parallel)"


def test_the_command_passes_the_counts_and_times_L_by_default(monkeypatch, capsys, tmp_path):
    seen = []

    def fake_run(opts):
        seen.append(opts)
        return _crafted()

    monkeypatch.setattr(command, "run", fake_run)
    md = tmp_path / "scaling.md"
    assert main(["bench", "--workers", "1,2", "--no-progress", "--json", "--markdown", str(md)]) == 0
    (opts,) = seen
    assert opts.workers == (1, 2) and opts.workloads == ("L",)  # the workload, unless asked
    assert json.loads(capsys.readouterr().out) == _crafted()
    assert "| backend | K | threads / worker |" in md.read_text()
    assert main(["bench", "--workers", "1,2", "--workloads", "M,L", "--no-progress"]) == 0
    assert seen[-1].workloads == ("M", "L")
    assert "L: synthetic" in capsys.readouterr().out


# --- the clock inside the loop ------------------------------------------------------------------


def test_the_epoch_clock_hands_out_every_row_and_times_each_process(tmp_path):
    clock = pickle.loads(pickle.dumps(scaling.EpochClock(5, str(tmp_path))))  # as a launched process gets it
    for epoch in range(4):
        (rows,) = clock(epoch)
        assert rows.tolist() == [0, 1, 2, 3, 4] and str(rows.dtype) == "int64"
    per_epoch, processes = scaling.EpochClock.read(str(tmp_path), 3)
    stamps = [float(line.split()[1]) for line in (tmp_path / f"clock-{os.getpid()}").read_text().splitlines()]
    assert processes == 1 and per_epoch == pytest.approx((stamps[3] - stamps[1]) / 2) and per_epoch >= 0
    with pytest.raises(RuntimeError, match="every epoch's rows"):
        scaling.EpochClock.read(str(tmp_path), 4)  # a loop that stopped early: no time for it
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="never asked for its rows"):
        scaling.EpochClock.read(str(tmp_path / "empty"), 3)


# --- speedup, efficiency and the tables --------------------------------------------------------


def _proc(backend, k, medians, ok=True):
    runs = [
        {
            "workload": wl,
            "backend": backend,
            "variant": "lesson",
            "workers": k,
            "threads_per_worker": 1,
            "epochs": 10,
            "steps": 11,
            "ok": True,
            "median_per_epoch": m,
            "min_per_epoch": m * 0.9,
            "max_per_epoch": m * 1.1,
            "repeats": 5,
            "outside_loop_seconds": 0.0 if k == 1 else 4.2,
            "loop_processes": k,
            "final_cost": 1.5 + 1e-7 * k,
        }
        for wl, m in medians.items()
    ]
    if not ok:
        return {"backend": backend, "workers": k, "ok": False, "error": "BackendError: it broke"}
    return {"backend": backend, "workers": k, "ok": True, "versions": {backend: "1.0"}, "runs": runs}


def _crafted(processes=None, before=(0.2, 0.2, 0.2), after=(2.1, 0.9, 0.4)):
    processes = processes or [_proc("torch", 1, {"L": 0.1}), _proc("torch", 2, {"L": 0.07})]
    workloads = [{"name": "L", "title": "synthetic Gaussian blobs", "n": 100_000, "d": 784, "c": 10}]
    workloads[0].update(epochs=10, steps=11)
    return {
        "schema": scaling.SCHEMA,
        "started": "2026-12-01T00:00:00+00:00",
        "command": ["softmax-rosetta", "bench", "--workers", "1,2"],
        "quick": False,
        "device": "cpu",
        "dtype": "float32",
        "variant": "lesson",
        "workers": sorted({p["workers"] for p in processes}),
        "threads_per_worker": 1,
        "threads": 2,
        "machine": {"cpu": "a CPU", "nproc": 2, "ram_gib": 24, "numpy": "2.0"},
        "load_before": list(before),
        "load_after": list(after),
        "not_data_parallel": ["numpy"],
        "workloads": workloads,
        "processes": [{k: v for k, v in p.items() if k != "runs"} for p in processes],
        "runs": scaling.scaled(processes, workloads),
    }


def test_speedup_and_efficiency_come_from_the_medians():
    processes = [_proc("torch", 1, {"L": 0.12}), _proc("torch", 2, {"L": 0.08}), _proc("jax", 2, {"L": 0.05})]
    processes.append(_proc("jax", 4, {"L": 0.04}))
    result = _crafted(processes)
    runs = {(r["backend"], r["workers"]): r for r in result["runs"]}
    assert runs["torch", 1]["speedup"] == 1.0 and runs["torch", 1]["efficiency"] == 1.0
    assert runs["torch", 2]["speedup"] == pytest.approx(0.12 / 0.08)
    assert runs["torch", 2]["efficiency"] == pytest.approx(0.12 / (2 * 0.08))  # t(1) / (K t(K))
    # jax timed from K = 2: against its own smallest K, k0 t(k0) / (K t(K))
    assert runs["jax", 4]["versus_workers"] == 2
    assert runs["jax", 4]["efficiency"] == pytest.approx(2 * 0.05 / (4 * 0.04))
    assert result["workloads"][0]["final_cost_spread"] == pytest.approx(3e-7)


def test_a_failed_process_is_a_failed_row_and_its_backend_has_no_efficiency():
    processes = [_proc("torch", 1, {"L": 0.1}, ok=False), _proc("torch", 2, {"L": 0.08})]
    runs = {r["workers"]: r for r in _crafted(processes)["runs"]}
    assert not runs[1]["ok"] and runs[1]["error"] == "BackendError: it broke"
    assert runs[2]["ok"] and "efficiency" not in runs[2]  # no baseline to scale against
    text = scaling_report.text_report(_crafted(processes))
    assert "  torch    1  failed: BackendError: it broke" in text


def test_the_tables_show_each_k_and_say_what_was_not_timed():
    result = _crafted()
    text = scaling_report.text_report(result).splitlines()
    header = next(line for line in text if line.lstrip().startswith("backend"))
    for column in scaling_report.HEADER:
        assert column in header
    one = next(line for line in text if line.lstrip().startswith("torch    1"))
    two = next(line for line in text if line.lstrip().startswith("torch    2"))
    assert one.split()[-2:] == ["1.00x", "1.00"] and one.split()[-3] == "-"  # no launch at K = 1
    assert two.split()[-2:] == ["1.43x", "0.71"] and "4.2 s" in two  # 0.1 / 0.07, 0.1 / (2 x 0.07)
    assert "  numpy    -  not timed: trains in one process (no data_parallel)" in text
    assert "1 thread(s) per worker" in text[0] and "efficiency = t(1) / (K t(K))" in text[-1]
    assert not any("busy" in line for line in text)
    md = scaling_report.markdown_report(result)
    assert "| backend | K | threads / worker | median / epoch | min | max | runs | launch + setup |" in md
    assert "| torch | 2 | 1 | 70 ms | 63 ms | 77 ms | 5 | 4.2 s | 1.43x | 0.71 |" in md
    assert "| numpy | - |  | not timed: trains in one process (no data_parallel) |" in md
    assert "softmax-rosetta bench --workers 1,2" in md and "final cost 1.5 at every K, within 1.0e-07" in md


def test_a_busy_machine_or_a_spread_run_is_said_so():
    processes = [_proc("torch", 1, {"L": 0.1}), _proc("torch", 2, {"L": 0.08})]
    processes[1]["runs"][0]["max_per_epoch"] = 0.5
    result = _crafted(processes, before=(3.0, 2.0, 1.0), after=(4.0, 3.0, 1.0))
    assert scaling_report.reasons(result) == [
        "load average 3 before the run on 2 CPUs",
        "load average 4 after the run (2 of it the benchmark's own threads) on 2 CPUs",
        "L: torch x2: repeats from 72 ms to 500 ms per epoch (6.9x)",
    ]
    text = scaling_report.text_report(result)
    assert "WARNING: the machine was busy" in text and text.index("WARNING") < text.index("backend  K")
    assert "  *: its repeats spread more than 2x: the efficiency is not reliable" in text
    assert "**The machine was busy" in scaling_report.markdown_report(result)


# --- for real, tiny --------------------------------------------------------------------------------


def _data_parallel_backends():
    return [n for n in available_backends() if backend_class(n).data_parallel]


@pytest.mark.slow
def test_bench_workers_times_every_data_parallel_backend_at_each_k(monkeypatch, capsys, tmp_path):
    if not _data_parallel_backends():
        pytest.skip("no installed backend trains data parallel")
    tiny = runner.Sizes(repeats=1, min_seconds=0.0, floor_bytes=8 << 20, matmul_n=64)
    monkeypatch.setitem(runner.SIZES, ("cpu", False), tiny)
    md = tmp_path / "scaling.md"
    argv = ["bench", "--workers", "1,2", "--size", "2000", "--epochs", "2", "--no-progress", "--json"]
    assert main([*argv, "--markdown", str(md), "--timeout", str(TIMEOUT)]) == 0
    result = json.loads(capsys.readouterr().out)
    per_worker = max(1, CPUS // 2)
    assert result["schema"] == scaling.SCHEMA and result["workers"] == [1, 2]
    assert result["threads_per_worker"] == per_worker
    assert result["not_data_parallel"] == [n for n in available_backends() if n not in _data_parallel_backends()]
    runs = {(r["backend"], r["workers"]): r for r in result["runs"]}
    assert set(runs) == {(n, k) for n in _data_parallel_backends() for k in (1, 2)}
    for (name, k), r in runs.items():
        assert r["ok"] and r["workload"] == "L" and r["repeats"] == 1 and r["steps"] == 3
        assert r["min_per_epoch"] == r["median_per_epoch"] == r["max_per_epoch"] > 0
        base = runs[name, 1]["median_per_epoch"]
        assert r["efficiency"] == pytest.approx(base / (k * r["median_per_epoch"]))
        assert 1 <= r["loop_processes"] <= k and r["threads_per_worker"] == per_worker
    for p in result["processes"]:
        assert p["ok"] and len(p["process"]["cpus"]) == p["workers"] * per_worker
    assert result["workloads"][0]["final_cost_spread"] < 1e-5  # every K trains the same run
    text = md.read_text()
    for name, k in runs:
        assert text.count(f"\n| {name} | {k} | {per_worker} | ") == 1
    assert all(f"\n| {name} | - |  | not timed" in text for name in result["not_data_parallel"])


@pytest.mark.slow
def test_the_clock_changes_nothing_in_the_data_parallel_loop(tmp_path):
    """The rows the clock hands out are the ones the loop takes without it: the same run, to the bit."""
    if not _data_parallel_backends():
        pytest.skip("no installed backend trains data parallel")
    for name in _data_parallel_backends():
        _same_run_with_the_clock(name, tmp_path)


def _same_run_with_the_clock(name, tmp_path):
    # The result goes back through a file: the script's stdout is shared with the ranks it launches.
    code = f"""
import json, sys, tempfile
from softmax_rosetta.registry import backend_class
from softmax_rosetta.tools.bench.scaling import EpochClock
from softmax_rosetta.tools.bench.workloads import make_data

if __name__ == "__main__":
    be = backend_class({name!r})(device="cpu", dtype="float32")
    d = make_data("L", 600)
    native = [be.to_native(a) for a in (d["x"], d["y"], d["weight"], d["bias"])]
    out, processes = [], 0
    for clock in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            batches = EpochClock(600, folder) if clock else None
            run = be.train_native(*native, lr=0.01, epochs=3, workers=2, batches=batches)
            out.append([be.to_numpy(a).tolist() for a in run])
            if clock:
                processes = EpochClock.read(folder, 3)[1]
    with open(sys.argv[1], "w") as f:
        json.dump([*out, processes], f)
"""
    script, result = tmp_path / "clock.py", tmp_path / f"clock-{name}.json"
    script.write_text(code)
    env = {**os.environ, **backend_class(name)(device="cpu").process_env(2)}
    done = subprocess.run(
        [sys.executable, str(script), str(result)], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    without, with_clock, processes = json.loads(result.read_text())
    assert without == with_clock and 1 <= processes <= 2  # timed in the loop's process(es)


def test_options_reach_scaling_through_run():
    with pytest.raises(UsageError, match="--workers: empty list"):
        run(Options(workers=()))
