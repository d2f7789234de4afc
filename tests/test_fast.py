"""The fast paths (backends/*/fast.py) give the idiomatic loops' trajectories.

Speed is measured by ``softmax-rosetta bench``, never asserted here (tests/test_bench.py checks
the benchmark's plumbing).
"""

import numpy as np
import pytest

from softmax_rosetta import BackendError, get_backend, load_spec
from softmax_rosetta.testing import (
    DTYPES,
    assert_within,
    require_backend,
    require_dtype,
    require_variant,
    selected_backends,
)
from softmax_rosetta.tools.bench import make_data
from softmax_rosetta.tools.cli import main

SELECTED = selected_backends()

FAST = [
    (name, v)
    for name in SELECTED
    for v in {"numpy": ("fast", "compiled"), "torch": ("fast", "compiled"), "jax": ("fast",), "mlx": ("fast",)}[name]
]
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
    """The backend's training loop on raw arrays (for data no spec holds): (costs, weight, bias) in NumPy."""
    be = get_backend(name, dtype=dtype)
    x, w, b = (be.to_native(np.asarray(a, dtype=dtype)) for a in (x, w, b))
    out = be.train_native(x, be.to_native(np.asarray(y, dtype=np.int64)), w, b, lr=lr, epochs=epochs, variant=variant)
    return [be.to_numpy(a) for a in out]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_follows_the_lessons_trajectory_on_the_seed(trained, seed_spec, name, variant, dtype):
    """All 1001 costs and the final parameters, within the spec's tolerance between two backends."""
    tol = seed_spec.tolerance(dtype)
    lesson, fast = trained(name, "lesson", dtype), trained(name, variant, dtype)
    assert fast.costs.dtype == np.dtype(dtype) and fast.weight.dtype == np.dtype(dtype)
    assert fast.costs.shape == lesson.costs.shape and fast.weight.shape == (3, 4)
    assert_within(fast.costs, lesson.costs, tol.cost, f"{name}:{variant} costs")
    assert_within(fast.weight, lesson.weight, tol.param, f"{name}:{variant} weight")
    assert_within(fast.bias, lesson.bias, tol.param, f"{name}:{variant} bias")
    # and against the NumPy lesson, the reference every backend is compared with
    reference = trained("numpy", "lesson", dtype)
    assert_within(fast.costs, reference.costs, tol.cost, f"{name}:{variant} vs numpy costs")
    assert fast.accuracy == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_follows_the_lesson_on_a_larger_problem(name, variant, dtype):
    """300 x 20 -> 5 for 60 epochs: more rows, features and classes than the seed's 8 x 4 -> 3."""
    require_variant(name, variant)
    require_dtype(name, dtype)
    spec, x, y, w, b = small_synthetic()
    tol = spec.tolerance(dtype)
    lesson = train_raw(name, "lesson", dtype, x, y, w, b, 0.05, 60)
    fast = train_raw(name, variant, dtype, x, y, w, b, 0.05, 60)
    assert lesson[0][-1] < lesson[0][0]  # it learns
    for what, a, e in zip(("costs", "weight", "bias"), fast, lesson, strict=True):
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
        for a, e in zip(blocked, whole, strict=True):
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
    require_variant(name, variant)
    be = get_backend(name)
    for changes, words in (
        ({"momentum": 0.9}, "momentum"),
        ({"weight_decay": 0.01}, "weight_decay"),
        ({"batch_size": 4}, "batch_size 4"),
    ):
        with pytest.raises(BackendError, match=words):
            be.train(seed_spec.replace(**changes), variant=variant)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_compiled_threads_split_the_rows(dtype):
    """One thread, two, and three (298 rows: ranges of 99 or 100 rows, each ending in a group
    shorter than 4): the same run up to the order of the sums."""
    require_variant("numpy", "compiled")
    from softmax_rosetta.backends.numpy_impl.fast import train_compiled

    spec, x, y, w, b = small_synthetic()
    x, w, b = (a.astype(dtype) for a in (x[:298], w, b))
    y, lr = y[:298], np.dtype(dtype).type(0.05)
    one = train_compiled(x, y, w, b, lr, 40, threads=1)
    assert one[0][-1] < one[0][0]
    for threads in (2, 3):
        split = train_compiled(x, y, w, b, lr, 40, threads=threads)
        for what, a, e in zip(("costs", "weight", "bias"), split, one, strict=True):
            assert a.dtype == e.dtype == np.dtype(dtype)
            tol = spec.tolerance(dtype)
            assert_within(a, e, tol.cost if what == "costs" else tol.param, f"threads={threads} {what}")


def test_numpy_compiled_builds_have_cache_files_of_their_own():
    """numba names a cache file after its function and leaves ``parallel`` out of the key: with one
    name, a process could load the parallel build as the serial one (measured: 4.9 us an epoch on
    the seed spec instead of 0.45, the thread pool woken each epoch)."""
    require_variant("numpy", "compiled")
    from softmax_rosetta.backends.numpy_impl import kernels

    serial, parallel = kernels.train_serial, kernels.train_parallel
    assert serial.py_func.__code__ is not parallel.py_func.__code__
    assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
    assert serial.targetoptions.get("parallel") is not True and parallel.targetoptions["parallel"] is True


def test_numpy_compiled_reads_x_64_byte_aligned():
    """The compiled loop reads X from a 64-byte boundary (a copy when X isn't on one, as NumPy's
    arrays often aren't): its 64-byte loads then never straddle two cache lines. Same numbers."""
    from softmax_rosetta.backends.numpy_impl.fast import aligned

    buf = np.arange(1000, dtype=np.float32)
    start = (16 - buf.ctypes.data % 64) % 64 // 4  # 16 bytes past a 64-byte boundary
    x = buf[start : start + 600].reshape(20, 30)
    assert x.ctypes.data % 64 == 16
    a = aligned(x)
    assert a.ctypes.data % 64 == 0 and a.flags.c_contiguous and a.dtype == x.dtype
    assert np.array_equal(a, x) and not np.shares_memory(a, x)
    assert aligned(a) is a  # already aligned: no copy
    assert aligned(np.float32(2.0)).shape == () and aligned(np.empty((0, 3))).shape == (0, 3)
    require_variant("numpy", "compiled")
    from softmax_rosetta.backends.numpy_impl.fast import train_compiled

    y, w, b = np.arange(20) % 3, np.zeros((3, 30), np.float32), np.zeros(3, np.float32)
    off, on = (train_compiled(arr, y, w, b, np.float32(0.1), 5, threads=1) for arr in (x, a))
    for got, expected in zip(off, on, strict=True):
        assert np.array_equal(got, expected)


def test_numpy_compiled_refuses_labels_out_of_range():
    """The kernel indexes with the labels unchecked: a bad one is refused before it runs."""
    require_variant("numpy", "compiled")
    from softmax_rosetta.backends.numpy_impl.fast import train_compiled

    x, w, b = np.ones((4, 3), np.float32), np.zeros((2, 3), np.float32), np.zeros(2, np.float32)
    for y in ([0, 1, 2, 0], [0, -1, 1, 0]):
        with pytest.raises(ValueError, match=r"y: class indices must be in \[0, 2\)"):
            train_compiled(x, np.array(y), w, b, np.float32(0.1), 3)


def test_a_variant_whose_package_is_missing_names_the_extra(monkeypatch, seed_spec, capsys):
    """numba not installed: the compiled variant is one line naming the pip extra, the others run."""
    from softmax_rosetta import checks

    findable = checks.findable
    monkeypatch.setattr(checks, "findable", lambda package: package != "numba" and findable(package))
    be = get_backend("numpy")
    assert be.unavailable("compiled") == (
        "compiled needs numba, which is not installed: pip install 'softmax-rosetta[numba]'"
    )
    assert be.unavailable("fast") is None
    with pytest.raises(BackendError, match=r"^variant: compiled needs numba"):
        be.train(seed_spec, variant="compiled")
    assert main(["train", "numpy", "--variant", "compiled", "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(be.unavailable("compiled"))


def test_fast_variant_from_the_command_line(capsys):
    assert main(["train", "numpy", "--variant", "fast", "--epochs", "200", "--log-every", "100"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch:")]
    assert [line.split()[1] for line in lines] == ["0", "100", "200"]
    assert main(["train", "numpy", "--variant", "fast", "--spec", "digits"]) == 2
    assert "the fast path" in capsys.readouterr().err


# --- the bench's machinery, tiny (no timing is asserted) ----------------------------------------


@pytest.mark.slow
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
    for what, a, e in zip(("costs", "weight", "bias"), cols, rows, strict=True):
        assert_within(np.asarray(a), np.asarray(e), tol.cost if what == "costs" else tol.param, what)


@pytest.mark.slow
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
    for what, a, e in zip(("costs", "weight", "bias"), large, lesson, strict=True):
        assert_within(a, e, tol.cost if what == "costs" else tol.param, what)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", FAST, ids=IDS)
def test_fast_path_stops_at_the_first_nonfinite_cost(seed_spec, name, variant, dtype):
    """As every lesson loop does: an lr so large that the first step overflows ends the run at epoch 1."""
    from softmax_rosetta import TrainingDiverged

    require_variant(name, variant)
    require_dtype(name, dtype)
    with pytest.raises(TrainingDiverged) as info:
        get_backend(name, dtype=dtype).train(seed_spec, lr={"float32": 1e38, "float64": 1e307}[dtype], variant=variant)
    result = info.value.result
    assert result.diverged_at == 1 and len(result.costs) == 2 and np.isfinite(result.costs[0])
    assert str(info.value).startswith(f"{name}:{variant} diverged at epoch 1: cost ")
