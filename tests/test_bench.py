"""``softmax-rosetta bench``: the processes, the floor, the reports and the targets.

Speed is measured by the benchmark, never asserted here: these tests check plumbing only.
"""

import json

import pytest

from softmax_rosetta import BackendError
from softmax_rosetta.testing import require_backend, selected_backends
from softmax_rosetta.tools.bench import Options, check_targets, floor, markdown_report, report, run, runner, text_report
from softmax_rosetta.tools.cli import main

TINY = dict(size=500, epochs=3, repeats=1, progress=False)


@pytest.fixture
def small_floor(monkeypatch):
    """A tiny floor measurement, and no extra timed runs: every run of the test measures little."""
    tiny = runner.Sizes(repeats=1, min_seconds=0.0, floor_bytes=8 << 20, matmul_n=64)
    for key in list(runner.SIZES):
        monkeypatch.setitem(runner.SIZES, key, tiny)


@pytest.mark.slow
def test_bench_runs_every_workload_and_reports_the_floor(small_floor):
    result = run(Options(workloads=("T", "M", "L"), backends=("numpy",), variants=("lesson", "fast"), **TINY))
    assert result["floor"]["bandwidth"] > 0 and result["floor"]["matmul_rate"] > 0
    assert result["floor"]["read_bytes"] == 8 << 20 and result["floor"]["matmul_n"] == 64
    assert result["threads"] >= 1 and "OPENBLAS_CORETYPE" not in result["floor"]["process"]["env"]
    assert [w["name"] for w in result["workloads"]] == ["T", "M", "L"]
    shapes = {w["name"]: (w["n"], w["d"], w["c"]) for w in result["workloads"]}
    assert shapes == {"T": (8, 4, 3), "M": (1797, 64, 10), "L": (500, 784, 10)}
    runs = {(r["workload"], r["variant"]): r for r in result["runs"]}
    assert set(runs) == {(w, v) for w in "TML" for v in ("lesson", "fast")}
    for r in runs.values():
        assert r["ok"] and r["repeats"] == 1 and r["steps"] == 4 and r["ratio"] > 0
        assert r["min"] <= r["median"] <= r["max"]
        assert r["fast"] == (r["variant"] == "fast")
    cache = floor.cache_bytes()
    for w in result["workloads"]:
        # an X in half the last-level cache (M's 460 KB, here) stays there: its floor is the arithmetic alone
        assert w["x_in_cache"] == bool(cache and 2 * w["x_bytes"] <= cache)
        assert w["x_in_cache"] or w["name"] != "M" or not cache or cache < 1 << 20
        expected = w["floor_matmul_s"] if w["x_in_cache"] else max(w["floor_read_s"], w["floor_matmul_s"])
        assert w["floor_s"] == expected > 0
        assert w["final_cost_spread"] < 1e-5  # the fast path and the lesson end at the same cost
    targets = [(t["workload"], t["variant"], t["kind"]) for t in result["targets"]]
    assert targets == [("L", "fast", "floor"), ("M", "fast", "floor"), ("L", "fast", "best"), ("M", "fast", "best")]
    for r in runs.values():  # the fractions of the floor's rates, on the floor's workloads
        if r["workload"] == "T":
            assert "fma_fraction" not in r
            continue
        wl = next(w for w in result["workloads"] if w["name"] == r["workload"])
        rate = wl["flops_per_epoch"] / r["median_per_epoch"]
        assert r["fma_fraction"] == pytest.approx(rate / result["floor"]["matmul_rate"])
        read = wl["x_bytes"] / r["median_per_epoch"] / result["floor"]["bandwidth"]
        assert r["read_fraction"] == (None if wl["x_in_cache"] else pytest.approx(read))
    (proc,) = result["processes"]
    assert proc["ok"] and proc["backend"] == "numpy" and proc["process"]["cpus"] == result["cpus"]
    text = text_report(result)
    for word in ("floor", "T: seed spec", "M: digits", "L: synthetic", "numpy", "fast", "x floor", "FMA rate / read"):
        assert word in text
    md = markdown_report(result)
    assert "| backend | variant |" in md and "machine:" in md and "softmax-rosetta bench" in md


def test_bench_targets_say_by_how_much_they_are_missed():
    result = {
        "workloads": [{"name": "L", "floor_s": 1.0}, {"name": "T", "floor_s": 1.0}],
        "runs": [
            {"workload": "L", "backend": "numpy", "variant": "fast", "fast": True, "ok": True, "median_per_epoch": 4.5},
            {
                "workload": "L",
                "backend": "numpy",
                "variant": "lesson",
                "fast": False,
                "ok": True,
                "median_per_epoch": 9.0,
            },
            {"workload": "T", "backend": "torch", "variant": "lesson", "ok": True, "median_per_epoch": 1.0},
            {"workload": "T", "backend": "numpy", "variant": "fast", "ok": True, "median_per_epoch": 0.1},
        ],
    }
    targets = {(t["workload"], t["backend"], t["variant"], t["kind"]): t for t in check_targets(result)}
    # fast paths only; T against torch
    assert set(targets) == {
        ("L", "numpy", "fast", "floor"),
        ("L", "numpy", "fast", "best"),
        ("T", "numpy", "fast", "speedup"),
    }
    every, best = targets["L", "numpy", "fast", "floor"], targets["L", "numpy", "fast", "best"]
    assert not every["met"] and "missed by 1.50x" in every["text"]
    assert not best["met"] and best["text"] == (
        "L best fast path (numpy fast): 4.50x the floor (target <= 2x): missed by 2.25x"
    )
    assert targets["T", "numpy", "fast", "speedup"]["met"] and targets["T", "numpy", "fast", "speedup"][
        "value"
    ] == pytest.approx(10)


def test_the_best_fast_path_target_takes_the_fastest():
    fast = [("fast", 2.5), ("compiled", 1.5)]
    runs = [
        {"workload": "M", "backend": "numpy", "variant": v, "fast": True, "ok": True, "median_per_epoch": t}
        for v, t in fast
    ]
    (best,) = [
        t for t in check_targets({"workloads": [{"name": "M", "floor_s": 1.0}], "runs": runs}) if t["kind"] == "best"
    ]
    assert best["variant"] == "compiled" and best["met"] and best["value"] == 1.5


def test_the_tables_show_the_fraction_of_the_floors_rates():
    result = _crafted([0.3, 0.5, 0.6], [2.1, 1.2, 0.9], {"fast": 1.0, "compiled": 1.0})
    result["runs"][0].update(fma_fraction=0.314, read_fraction=None)  # X in the cache: no read fraction
    result["runs"][1].update(fma_fraction=0.2, read_fraction=0.55)
    header, rows = report.table_rows(result, result["workloads"][0])
    assert header[-2:] == ["FMA rate / read", "x floor"]
    assert [row[-2] for row in rows] == ["31% / -", "20% / 55%"]


@pytest.mark.slow
def test_bench_command_json_and_usage_errors(small_floor, capsys, tmp_path):
    md = tmp_path / "bench.md"
    argv = [
        "bench",
        "--workloads",
        "T",
        "--backends",
        "numpy",
        "--variants",
        "fast",
        "--epochs",
        "2",
        "--repeats",
        "1",
        "--no-progress",
        "--json",
        "--markdown",
        str(md),
    ]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "softmax-rosetta/bench" and data["floor"]["matmul_n"] == 64
    assert [(r["backend"], r["variant"]) for r in data["runs"]] == [("numpy", "fast")]
    assert "| numpy | fast |" in md.read_text()
    assert main(["bench", "--workloads", "X"]) == 2
    assert "unknown workload 'X'" in capsys.readouterr().err
    assert main(["bench", "--workloads", ","]) == 2
    assert "--workloads: empty list" in capsys.readouterr().err
    assert main(["bench", "--backends", "nope"]) == 2
    assert main(["bench", "--device", "tpu"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--floor-bytes", str(8 << 20)])  # no hidden options
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    "where, message",
    [
        (
            "missing/bench.md",
            "--markdown: can't write '{tmp}/missing/bench.md': the folder '{tmp}/missing' does not exist",
        ),
        ("", "--markdown: '{tmp}/' is a folder, not a file"),
        ("file/bench.md", "--markdown: can't write '{tmp}/file/bench.md': the folder '{tmp}/file' is not a folder"),
    ],
)
def test_a_markdown_file_that_cant_be_written_is_one_line_before_anything_runs(where, message, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = ["bench", "--workloads", "T", "--backends", "numpy", "--no-progress", "--markdown", f"{tmp_path}/{where}"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was measured
    assert captured.err == f"softmax-rosetta: error: {message.format(tmp=tmp_path)}\n"


def test_an_unknown_variant_is_one_line_naming_the_known_ones(capsys):
    argv = ["bench", "--workloads", "T", "--backends", "numpy", "--variants", "fast,bogus", "--no-progress"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was measured
    known = "lesson, fast, compiled"
    assert captured.err == f"softmax-rosetta: error: --variants: unknown variant 'bogus'; known: {known}\n"


@pytest.mark.slow
def test_a_backend_process_that_fails_is_reported_not_raised(small_floor, monkeypatch, capsys):
    """A timing process that crashes leaves a failed row and exit status 1; the floor still runs."""
    real = runner.worker.run

    def crashing(function, kwargs, **options):
        if function.endswith("timing:time_backend"):
            function = "softmax_rosetta.tools.bench.workloads:make_data"
            kwargs = {"key": "X"}
        return real(function, kwargs, **options)

    monkeypatch.setattr(runner.worker, "run", crashing)
    assert main(["bench", "--workloads", "T", "--backends", "numpy", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "(all)" in out and "failed: BackendError: --workloads: unknown workload 'X'" in out


@pytest.mark.parametrize("name", selected_backends())
def test_the_floor_through_a_backend_measures_with_its_public_api(name):
    """What a GPU run measures its floor with (``to_native``, the native ``sum`` and ``@``,
    ``synchronize``), here on the CPU, where every backend has it."""
    require_backend(name)
    info = floor._device(name, "cpu", repeats=1, read_bytes=1 << 20, matmul_n=32)
    assert info["bandwidth"] > 0 and info["matmul_rate"] > 0 and info["read_bytes"] == 1 << 20
    assert info["bandwidth_method"] == f"{name} sum" and info["backend"]["name"] == name


def test_a_gpu_run_times_the_backends_with_one_and_measures_the_floor_through_the_first():
    known = {
        "ok": True,
        "numpy": {"known": ["cpu"], "available": ["cpu"]},
        "torch": {"known": ["cpu", "cuda"], "available": ["cpu"]},
        "jax": {"known": ["cpu", "cuda"], "available": ["cpu", "cuda"]},
    }

    def launch(function, kwargs, on_progress):
        assert function == "timing:devices"
        return known

    names = ["numpy", "torch", "jax"]
    assert runner._on_device(Options(device="cuda"), names, launch) == (["torch", "jax"], "jax")
    # asked for by name, NumPy runs (on the CPU) beside the GPU backends
    assert runner._on_device(Options(device="cuda", backends=tuple(names)), names, launch) == (names, "jax")
    with pytest.raises(BackendError, match="no backend of numpy, torch sees one"):
        runner._on_device(Options(device="cuda", backends=("numpy", "torch")), ["numpy", "torch"], launch)


# --- a busy machine is said so above the tables, not printed as if its ratios held --------------


def _crafted(load_before, load_after, spreads):
    """A bench result as runner.run returns it, on a 2-CPU machine, for the reports alone: one workload,
    one run per (variant, max/min of its repeats)."""
    runs = []
    for variant, spread in spreads.items():
        low = 1e-3
        runs.append(
            {
                "workload": "M",
                "backend": "numpy",
                "variant": variant,
                "ok": True,
                "min": low,
                "median": low * (1 + spread) / 2,
                "max": low * spread,
                "min_per_epoch": low / 10,
                "median_per_epoch": low * (1 + spread) / 20,
                "max_per_epoch": low * spread / 10,
                "repeats": 5,
                "compile_seconds": 0.0,
                "ratio": 4.0 * spread,
            }
        )
    floor = {
        "bandwidth": 30e9,
        "bandwidth_method": "add.reduce",
        "matmul_rate": 200e9,
        "matmul_n": 2048,
        "measured": [],
        "blas": [],
    }
    return {
        "device": "cpu",
        "threads": 2,
        "quick": False,
        "machine": {"cpu": "a CPU", "nproc": 2, "ram_gib": 24},
        "floor": floor,
        "load_before": load_before,
        "load_after": load_after,
        "unset_for_benchmark": {},
        "workloads": [
            {
                "name": "M",
                "title": "digits",
                "n": 1797,
                "d": 64,
                "c": 10,
                "epochs": 9,
                "steps": 10,
                "versus": "floor",
                "floor_s": 2.5e-5,
                "floor_read_s": 1e-5,
                "floor_matmul_s": 2.5e-5,
            }
        ],
        "runs": runs,
        "targets": [{"met": True, "text": "M: numpy fast <= 5x floor"}],
        "processes": [],
        "started": "2026-12-01T00:00:00+00:00",
        "command": ["softmax-rosetta", "bench"],
        "cpus": [0, 1],
    }


def test_a_quiet_run_has_no_warning():
    result = _crafted([0.3, 0.5, 0.6], [2.1, 1.2, 0.9], {"lesson": 1.1, "fast": 1.5})
    assert report.busy_reasons(result) == []
    assert "busy" not in text_report(result) and "busy" not in markdown_report(result)
    assert " *" not in text_report(result)


def test_a_busy_machine_is_said_so_above_the_tables():
    # others' load before the run; after it, 5.2 less the benchmark's own 2 threads; one variant interrupted
    result = _crafted([3.2, 2.0, 1.0], [5.2, 3.0, 1.5], {"lesson": 1.1, "fast": 6.0})
    reasons = report.busy_reasons(result)
    assert reasons == [
        "load average 3.2 before the run on 2 CPUs",
        "load average 5.2 after the run (2 of it the benchmark's own threads) on 2 CPUs",
        "M: numpy fast: repeats from 100 us to 600 us per epoch (6.0x)",
    ]
    text = text_report(result).splitlines()
    warning = text.index(
        "WARNING: the machine was busy: these numbers (ratios and targets too) may not mean much; "
        "rerun on a quiet machine"
    )
    table = next(i for i, line in enumerate(text) if line.lstrip().startswith("backend"))
    assert warning < table and text[warning + 1 : warning + 4] == [f"  - {r}" for r in reasons]
    fast = next(line for line in text if " fast " in line and "numpy" in line)
    lesson = next(line for line in text if " lesson " in line and "numpy" in line)
    assert fast.endswith("24.00 *") and lesson.endswith("4.40")  # the interrupted variant's ratio is marked
    assert "  *: its repeats spread more than 2x: the ratio is not reliable" in text
    assert "Targets (the machine was busy: see the warning above):" in text
    md = markdown_report(result)
    assert md.index("**The machine was busy") < md.index("| backend |")
    assert all(f"- {r}" in md for r in reasons)


def test_only_the_load_of_others_counts():
    # after the run the benchmark's own 2 threads account for the load; a spread just under the limit
    result = _crafted([1.4, 1.0, 1.0], [3.4, 2.0, 1.0], {"lesson": report.SPREAD_LIMIT * 0.99})
    assert report.busy_reasons(result) == []
    result = _crafted(None, None, {"lesson": 1.0})  # no load average on this system: nothing to say
    assert report.busy_reasons(result) == []


def test_a_variant_whose_package_is_missing_is_skipped_with_why(monkeypatch, tmp_path):
    """numba not installed: the bench times NumPy's other variants and says why compiled is missing
    (not a failure: exit status 0)."""
    from softmax_rosetta import checks
    from softmax_rosetta.tools.bench import timing, workloads

    findable = checks.findable
    monkeypatch.setattr(checks, "findable", lambda package: package != "numba" and findable(package))
    described = workloads.save("T", str(tmp_path / "T.npz"), rows=8, epochs=2)
    out = timing.time_backend(
        backend="numpy",
        device="cpu",
        threads=1,
        repeats=1,
        min_seconds=0.0,
        max_repeats=1,
        variants=None,
        workloads=[{"name": "T", "data": described["data"], "epochs": 2}],
    )
    assert [r["variant"] for r in out["runs"]] == ["lesson", "fast"] and all(r["ok"] for r in out["runs"])
    assert out["skipped"] == [
        {
            "variant": "compiled",
            "reason": "compiled needs numba, which is not installed: pip install 'softmax-rosetta[numba]'",
        }
    ]
    crafted = _crafted([0.1] * 3, [0.1] * 3, {"fast": 1.1})
    lines = report.summary_lines({**crafted, "processes": [{"backend": "numpy", **out}]})
    assert (
        lines[-1] == "skipped: numpy compiled needs numba, which is not installed: pip install 'softmax-rosetta[numba]'"
    )


def test_one_slow_repeat_in_many_is_not_a_busy_machine():
    """With ten repeats or more the slowest tenth is left out of the spread; with fewer, not."""
    many = _crafted([0.1] * 3, [0.1] * 3, {"fused": 1.1})
    run = many["runs"][0]
    run["seconds"] = [run["min"]] * 129 + [run["min"] * 30]  # one hiccup among 130
    assert report.busy_reasons(many) == []
    run["seconds"] = [run["min"]] * 110 + [run["min"] * 30] * 20  # a slow sixth: busy
    assert report.busy_reasons(many) and "(30.0x)" in report.busy_reasons(many)[0]
    few = _crafted([0.1] * 3, [0.1] * 3, {"fused": 1.1})
    few["runs"][0]["seconds"] = [few["runs"][0]["min"]] * 4 + [few["runs"][0]["min"] * 3]
    assert report.busy_reasons(few)  # 5 repeats: the slowest counts
