"""The fast paths (backends/*/fast.py) give the idiomatic loops' trajectories, and the bench runs.

Speed is measured by ``softmax-rosetta bench``, never asserted here: these tests check numbers
and plumbing only.
"""

import json

import numpy as np
import pytest

from softmax_rosetta import BackendError, get_backend, load_spec
from softmax_rosetta.tools.bench import Options, check_targets, make_data, markdown_report, run, text_report
from softmax_rosetta.tools.cli import main
from conftest import DTYPES, SELECTED, assert_within, require_backend

FAST = [(name, v) for name in SELECTED for v in {"numpy": ("fast",), "torch": ("fast", "compiled"),
                                                   "jax": ("fast",)}[name]]
IDS = [f"{n}:{v}" for n, v in FAST]


def small_synthetic():
    """A small full-batch problem with more rows, features and classes than the seed: 300 x 20 -> 5."""
    spec = load_spec("seed")
    data = make_data("L", rows=300)
    x = data["x"][:, :20].astype(np.float64)
    w = np.random.default_rng(1).normal(0, 0.01, (5, 20))
    y = data["y"] % 5
    return spec, x, y, w, np.zeros(5)


def train_raw(name, variant, dtype, x, y, w, b, lr, epochs):
    """The backend's training hook on raw arrays (for data no spec holds): (costs, weight, bias) in NumPy."""
    be = get_backend(name, dtype=dtype)
    cast = lambda a: be._to_native(np.asarray(a, dtype=dtype))  # noqa: E731
    out = be._train(cast(x), be._to_native(np.asarray(y, dtype=np.int64)), cast(w), cast(b), lr, epochs, variant,
                    0, None, batches=None, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0)
    return [be._to_numpy(a) for a in out]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_follows_the_lessons_trajectory_on_the_seed(trained, seed_spec, name, variant, dtype):
    """All 1001 costs and the final parameters, within the spec's tolerance between two backends."""
    tol = seed_spec.tolerance(dtype)
    lesson, fast = trained(name, "lesson", dtype), trained(name, variant, dtype)
    assert fast.losses.dtype == np.dtype(dtype) and fast.weight.dtype == np.dtype(dtype)
    assert fast.losses.shape == lesson.losses.shape and fast.weight.shape == (3, 4)
    assert_within(fast.losses, lesson.losses, tol.cost, f"{name}:{variant} costs")
    assert_within(fast.weight, lesson.weight, tol.param, f"{name}:{variant} weight")
    assert_within(fast.bias, lesson.bias, tol.param, f"{name}:{variant} bias")
    # and against the NumPy lesson, the reference every backend is compared with
    reference = trained("numpy", "lesson", dtype)
    assert_within(fast.losses, reference.losses, tol.cost, f"{name}:{variant} vs numpy costs")
    assert fast.accuracy == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_follows_the_lesson_on_a_larger_problem(name, variant, dtype):
    """300 x 20 -> 5 for 60 epochs: more rows, features and classes than the seed's 8 x 4 -> 3."""
    require_backend(name)
    spec, x, y, w, b = small_synthetic()
    tol = spec.tolerance(dtype)
    lesson = train_raw(name, "lesson", dtype, x, y, w, b, 0.05, 60)
    fast = train_raw(name, variant, dtype, x, y, w, b, 0.05, 60)
    assert lesson[0][-1] < lesson[0][0]  # it learns
    for what, a, e in zip(("costs", "weight", "bias"), fast, lesson):
        assert_within(a, e, tol.cost if what == "costs" else tol.param, f"{name}:{variant} {what}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_row_blocks_equal_one_block(dtype):
    """Blocks of 7 rows (the last one shorter), of 64, and the whole X at once: the same run up to summation order."""
    from softmax_rosetta.backends.numpy_impl.fast import train_fast

    _, x, y, w, b = small_synthetic()
    x, w, b = (a.astype(dtype) for a in (x, w, b))
    lr = np.dtype(dtype).type(0.05)
    whole = train_fast(x, y, w, b, lr, 40, block_rows=x.shape[0])
    atol = 1e-6 if dtype == "float32" else 1e-13
    for rows in (7, 64):
        blocked = train_fast(x, y, w, b, lr, 40, block_rows=rows)
        for a, e in zip(blocked, whole):
            assert a.dtype == e.dtype
            assert_within(a, e, atol, f"block_rows={rows}")


def test_numpy_fast_path_picks_blocks_for_a_large_x():
    from softmax_rosetta.backends.numpy_impl import fast

    x = np.zeros((fast.UNBLOCKED_BYTES // (64 * 4) + 1, 64), dtype=np.float32)
    y = np.zeros(x.shape[0], dtype=np.int64)
    costs, w, b = fast.train_fast(x, y, np.zeros((2, 64), np.float32), np.zeros(2, np.float32), np.float32(0.1), 0)
    assert costs[0] == pytest.approx(np.log(2))  # every row's logits are 0: log C


@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_paths_refuse_what_they_dont_cover(seed_spec, name, variant):
    require_backend(name)
    be = get_backend(name)
    for changes, words in (({"momentum": 0.9}, "momentum"), ({"weight_decay": 0.01}, "weight_decay"),
                           ({"batch_size": 4}, "batch_size 4")):
        with pytest.raises(BackendError, match=words):
            be.train(seed_spec.replace(**changes), variant=variant)


def test_fast_variant_from_the_command_line(capsys):
    assert main(["train", "numpy", "--variant", "fast", "--epochs", "200", "--log-every", "100"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch:")]
    assert [line.split()[1] for line in lines] == ["0", "100", "200"]
    assert main(["train", "numpy", "--variant", "fast", "--spec", "digits"]) == 2
    assert "the fast path" in capsys.readouterr().err


# --- the bench's machinery, tiny (no timing is asserted) ----------------------------------------

TINY = dict(size=500, epochs=3, repeats=1, min_seconds=0.0, floor_bytes=8 << 20, matmul_n=64, progress=False)


def test_bench_runs_every_workload_and_reports_the_floor():
    result = run(Options(workloads=("T", "M", "L"), backends=("numpy",), **TINY))
    assert result["floor"]["bandwidth"] > 0 and result["floor"]["matmul_rate"] > 0
    assert result["threads"] >= 1 and "OPENBLAS_CORETYPE" not in result["floor"]["process"]["env"]
    assert [w["name"] for w in result["workloads"]] == ["T", "M", "L"]
    shapes = {w["name"]: (w["n"], w["d"], w["c"]) for w in result["workloads"]}
    assert shapes == {"T": (8, 4, 3), "M": (1797, 64, 10), "L": (500, 784, 10)}
    runs = {(r["workload"], r["variant"]): r for r in result["runs"]}
    assert set(runs) == {(w, v) for w in "TML" for v in ("lesson", "fast")}
    for r in runs.values():
        assert r["ok"] and r["repeats"] == 1 and r["steps"] == 4 and r["ratio"] > 0
        assert r["min"] <= r["median"] <= r["max"]
    for w in result["workloads"]:
        assert w["floor_s"] == max(w["floor_read_s"], w["floor_matmul_s"]) > 0
        assert w["final_cost_spread"] < 1e-5   # the fast path and the lesson end at the same cost
    text = text_report(result)
    for word in ("floor", "T: seed spec", "M: digits", "L: synthetic", "numpy", "fast", "x floor"):
        assert word in text
    md = markdown_report(result)
    assert "| backend | variant |" in md and "machine:" in md and "softmax-rosetta bench" in md


def test_bench_targets_say_by_how_much_they_are_missed():
    result = {"workloads": [{"name": "L", "floor_s": 1.0}, {"name": "T", "floor_s": 1.0}],
              "runs": [{"workload": "L", "backend": "numpy", "variant": "fast", "ok": True, "median_per_epoch": 4.5},
                       {"workload": "T", "backend": "torch", "variant": "lesson", "ok": True, "median_per_epoch": 1.0},
                       {"workload": "T", "backend": "numpy", "variant": "fast", "ok": True, "median_per_epoch": 0.1}]}
    targets = {(t["workload"], t["backend"]): t for t in check_targets(result)}
    assert not targets["L", "numpy"]["met"] and "missed by 1.50x" in targets["L", "numpy"]["text"]
    assert targets["T", "numpy"]["met"] and targets["T", "numpy"]["value"] == pytest.approx(10)


def test_bench_command_json_and_usage_errors(capsys, tmp_path):
    md = tmp_path / "bench.md"
    argv = ["bench", "--workloads", "T", "--backends", "numpy", "--variants", "fast", "--epochs", "2",
            "--repeats", "1", "--floor-bytes", str(8 << 20), "--matmul-n", "64", "--min-seconds", "0",
            "--no-progress", "--json", "--markdown", str(md)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "softmax-rosetta/bench"
    assert [(r["backend"], r["variant"]) for r in data["runs"]] == [("numpy", "fast")]
    assert "| numpy | fast |" in md.read_text()
    assert main(["bench", "--workloads", "X"]) == 2
    assert "unknown workload 'X'" in capsys.readouterr().err
    assert main(["bench", "--backends", "nope"]) == 2
    assert main(["bench", "--device", "tpu"]) == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_jax_fast_path_layouts_agree(dtype):
    """The softmax on z (N, C), as for a large X, and on z^T (C, N), as for a small one: the same run."""
    require_backend("jax")
    import jax.numpy as jnp

    from softmax_rosetta.backends.jax_impl.fast import run

    spec, x, y, w, b = small_synthetic()
    args = [jnp.asarray(a, dtype=dtype) for a in (x, y.astype(np.int32), w, b)]
    args[1] = jnp.asarray(y)
    rows, cols = (run(*args, jnp.asarray(0.05, dtype=dtype), 41, classes_first=f) for f in (False, True))
    tol = spec.tolerance(dtype)
    for what, a, e in zip(("costs", "weight", "bias"), cols, rows):
        assert_within(np.asarray(a), np.asarray(e), tol.cost if what == "costs" else tol.param, what)


@pytest.mark.parametrize("variant", ["fast", "compiled"])
def test_torch_large_x_path_follows_the_lesson(monkeypatch, variant):
    """What the torch steps do on a large X (logits as x W^T; the compiled softmax on z (N, C)),
    forced on a small one, against the lesson."""
    require_backend("torch")
    from softmax_rosetta.backends.torch_impl import fast

    monkeypatch.setattr(fast, "CLASSES_FIRST_BELOW", 0)
    monkeypatch.setattr(fast, "_compiled", {})
    spec, x, y, w, b = small_synthetic()
    tol = spec.tolerance("float32")
    lesson = train_raw("torch", "lesson", "float32", x, y, w, b, 0.05, 30)
    large = train_raw("torch", variant, "float32", x, y, w, b, 0.05, 30)
    for what, a, e in zip(("costs", "weight", "bias"), large, lesson):
        assert_within(a, e, tol.cost if what == "costs" else tol.param, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_stops_at_the_first_nonfinite_cost(seed_spec, name, variant, dtype):
    """As every lesson loop does: an lr so large that the first step overflows ends the run at epoch 1."""
    from softmax_rosetta import TrainingDiverged

    require_backend(name)
    with pytest.raises(TrainingDiverged) as info:
        get_backend(name, dtype=dtype).train(seed_spec, lr={"float32": 1e38, "float64": 1e307}[dtype],
                                             variant=variant)
    result = info.value.result
    assert result.diverged_at == 1 and len(result.losses) == 2 and np.isfinite(result.losses[0])
    assert str(info.value).startswith(f"{name}:{variant} diverged at epoch 1: cost ")
