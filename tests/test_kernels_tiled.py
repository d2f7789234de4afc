"""The NumPy compiled variant's register-tiled kernels (backends/numpy_impl/tiled.py) give the lesson's
trajectory: every generated class count, float32 and float64, and the fallback to kernels.py's loop
for shapes outside what is generated. Within the spec's tolerances between two backends (the seed
spec's, as tests/test_fast.py uses for data no spec holds). Speed is the benchmark's business.

Each generated (C, dtype) compiles in about 5 to 8 s the first time (numba's cache keeps it after):
the tests over all of them are marked slow.
"""

import numpy as np
import pytest

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.testing import DTYPES, assert_within, require_variant

N, D, EPOCHS, LR = 101, 27, 30, 0.05  # 101 rows: tiles and a tail (kernels._rows); D: not a multiple of 8 or 16


def problem(c, d=D, n=N):
    """n x d -> c Gaussian blobs the lesson learns, with small random initial parameters."""
    rng = np.random.default_rng(c)
    y = rng.permutation(np.arange(n) % c)
    centres = rng.normal(0, 1.5, (c, d))
    x = centres[y] + rng.normal(0, 1, (n, d))
    return x, y, rng.normal(0, 0.01, (c, d)), np.zeros(c)


def run(variant, dtype, x, y, w, b, lr=LR, epochs=EPOCHS):
    be = get_backend("numpy", dtype=dtype)
    x, w, b = (np.asarray(a, dtype=dtype) for a in (x, w, b))
    out = be.train_native(x, np.asarray(y, dtype=np.int64), w, b, lr=lr, epochs=epochs, variant=variant)
    return [np.asarray(a) for a in out]


def assert_lesson(c, dtype, d=D, n=N):
    tol = load_spec("seed").tolerance(dtype)
    x, y, w, b = problem(c, d, n)
    lesson, compiled = run("lesson", dtype, x, y, w, b), run("compiled", dtype, x, y, w, b)
    assert lesson[0][-1] < lesson[0][0]  # it learns
    assert compiled[0].dtype == np.dtype(dtype) and compiled[1].dtype == np.dtype(dtype)
    for what, a, e in zip(("costs", "weight", "bias"), compiled, lesson, strict=True):
        assert a.shape == e.shape, what
        assert_within(a, e, tol.cost if what == "costs" else tol.param, f"C={c} {dtype} {what}")


@pytest.fixture
def tiled():
    require_variant("numpy", "compiled")
    from softmax_rosetta.backends.numpy_impl import tiled

    return tiled


@pytest.fixture
def modules_used(tiled, monkeypatch):
    """The (C, dtype) of every generated module train_compiled asks for."""
    used, module = [], tiled.module

    def spy(c, dtype, tile=None):
        used.append((c, dtype))
        return module(c, dtype, tile)

    monkeypatch.setattr(tiled, "module", spy)
    return used


# The kernels run against the lesson: each (C, dtype) compiles for 5 to 8 s, so one C for each tile
# (rl, rg, cg) the generator writes (tiled.tile_for: C = 2 and 3 share one, 5 and 6, 7 and 8), in
# float32, and in float64 as well for 3 (a class left over by cg) and 10 (the measured tile).
TESTED = [(c, "float32") for c in (3, 4, 5, 7, 9, 10)] + [(3, "float64"), (10, "float64")]


def test_the_tested_kernels_cover_every_tile_the_generator_writes(tiled):
    assert {tiled.tile_for(c) for c in tiled.CLASSES} == {tiled.tile_for(c) for c, _ in TESTED}
    assert {dtype for _, dtype in TESTED} == set(DTYPES)


@pytest.mark.slow
@pytest.mark.parametrize(("c", "dtype"), TESTED)
def test_every_generated_kernel_follows_the_lesson(tiled, modules_used, c, dtype):
    assert c in tiled.CLASSES
    assert_lesson(c, dtype)
    assert modules_used == [(c, dtype)]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_class_count_not_generated_keeps_todays_loop(tiled, modules_used, dtype):
    c = max(tiled.CLASSES) + 1
    assert not tiled.generated(c, D)
    assert_lesson(c, dtype)
    assert modules_used == []


@pytest.mark.slow
def test_narrow_rows_keep_todays_loop(tiled, modules_used):
    """D below MIN_FEATURES (the seed spec's 4 features): kernels.py's loop."""
    assert not tiled.generated(3, 4)
    assert_lesson(3, "float64", d=4)
    assert modules_used == []


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_split_the_rows_into_tiles_and_tails(tiled, dtype):
    """One thread, two and three over 299 rows (ranges of 99 or 100 rows: C = 10's tiles of 4 rows,
    and tails of 3 in the ranges of 99):
    the same run up to the order of the sums."""
    from softmax_rosetta.backends.numpy_impl.fast import train_compiled

    tol = load_spec("seed").tolerance(dtype)
    x, y, w, b = (np.asarray(a, dtype=dtype) if a.dtype.kind == "f" else a for a in problem(10, n=299))
    lr = np.dtype(dtype).type(LR)
    one = train_compiled(x, y, w, b, lr, EPOCHS, threads=1)
    for threads in (2, 3):
        split = train_compiled(x, y, w, b, lr, EPOCHS, threads=threads)
        for what, a, e in zip(("costs", "weight", "bias"), split, one, strict=True):
            assert_within(a, e, tol.cost if what == "costs" else tol.param, f"threads={threads} {what}")
    again = train_compiled(x, y, w, b, lr, EPOCHS, threads=2)
    for a, e in zip(again, train_compiled(x, y, w, b, lr, EPOCHS, threads=2), strict=True):
        np.testing.assert_array_equal(a, e)  # the same numbers on every run


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_generated_kernel_stops_at_the_first_nonfinite_cost(tiled, modules_used, dtype):
    """An lr so large that the first step overflows: the run ends at epoch 1, as the lesson's does."""
    x, y, w, b = problem(10)
    lr = {"float32": 1e38, "float64": 1e308}[dtype]  # 1e307 in float64: costs up to 5e303, finite
    lesson, compiled = (run(variant, dtype, x, y, w, b, lr=lr)[0] for variant in ("lesson", "compiled"))
    assert len(lesson) == len(compiled) == 2
    assert np.isfinite(compiled[0]) and not np.isfinite(compiled[1]) and not np.isfinite(lesson[1])
    assert modules_used == [(10, dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_vectorized_exp_is_within_a_few_ulp_of_numpys(tiled, dtype):
    """The generated polynomial exp against NumPy's, over the range softmax feeds it (z - max z <= 0),
    with its edges: 0, the underflow limit, -inf and NaN."""
    mod = tiled.module(10, dtype)
    t = np.dtype(dtype).type
    z = np.concatenate([-np.geomspace(1e-6, 800, 200_000), [0, mod.LO, -np.inf, np.nan]]).astype(dtype)
    out = z.copy()
    bits = np.empty(z.size, dtype=f"int{z.itemsize * 8}")
    mod._exp(out, bits, bits.view(dtype))
    with np.errstate(under="ignore"):
        expected = np.exp(z)
    finite = np.isfinite(z) & (z >= mod.LO)
    # relative error in units of the dtype's epsilon; measured on these points (2026-12-05): at most
    # 1.58 in float32 (Cephes' polynomial) and 1.00 in float64, so 2 leaves only rounding's room
    rel = np.abs(out[finite] - expected[finite]) / expected[finite] / np.finfo(dtype).eps
    assert rel.max() <= 2, rel.max()
    assert out[z < mod.LO].tolist() == [0] * int((z < mod.LO).sum()) and out[-2] == t(0)
    assert np.isnan(out[-1])


def test_generated_sources_are_written_once_where_asked(tiled, tmp_path, monkeypatch):
    """One file per (C, dtype, tile, kernels.py), written once: numba's cache is keyed by its mtime."""
    monkeypatch.setenv("SOFTMAX_ROSETTA_KERNELS", str(tmp_path))
    monkeypatch.setattr(tiled, "_LOADED", {})
    first = tiled.module(10, "float64")  # imported only: numba compiles on the first call
    (path,) = tmp_path.glob("tiled_c10_float64_*.py")
    assert first.__file__ == str(path) and "def rows_tiled(" in path.read_text()
    written = path.stat().st_mtime_ns
    monkeypatch.setattr(tiled, "_LOADED", {})
    assert tiled.module(10, "float64").__file__ == str(path) and path.stat().st_mtime_ns == written
    assert tiled.module(10, "float64", (1, 4, 4)).__file__ != str(path)  # another tile: another file
