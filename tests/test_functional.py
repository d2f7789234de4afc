"""softmax, log_softmax and the lesson's three levels of cross-entropy, in every backend."""

import numpy as np
import pytest

from softmax_rosetta import BackendError, get_backend
from softmax_rosetta.testing import assert_within

# The lesson prints F.softmax(torch.FloatTensor([1, 2, 3])) as tensor([0.0900, 0.2447, 0.6652]).
SOFTMAX_123 = [0.09003057317038046, 0.24472847105479764, 0.6652409557748219]
LEVELS = ("onehot", "nll", "fused")


def _atol(dtype):
    return {"float32": 1e-6, "float64": 1e-15}[dtype]


def test_softmax_of_1_2_3(be, dtype):
    p = be.softmax(np.array([1.0, 2.0, 3.0]), axis=0)
    assert p.dtype == np.dtype(dtype)
    assert np.round(p.astype(np.float64), 4).tolist() == [0.0900, 0.2447, 0.6652]
    assert_within(p, SOFTMAX_123, _atol(dtype), "softmax([1, 2, 3])")
    assert abs(float(p.sum()) - 1.0) <= _atol(dtype)


def test_softmax_rows_sum_to_one_along_the_axis(be, dtype):
    z = np.random.default_rng(0).normal(size=(5, 7)) * 3
    for axis in (0, 1, -1):
        p = be.softmax(z, axis=axis)
        assert p.shape == z.shape
        assert_within(p.sum(axis=axis), np.ones(z.shape[1 - axis % 2]), 10 * _atol(dtype), f"sum over axis {axis}")


def test_log_softmax_is_log_of_softmax(be, dtype):
    z = np.random.default_rng(1).normal(size=(4, 6)) * 4
    assert_within(be.log_softmax(z), np.log(be.softmax(z).astype(np.float64)), 10 * _atol(dtype) * 8, "log_softmax")


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_large_logits_do_not_overflow(be, dtype, scale):
    """exp(1e4) overflows float64; a stable softmax subtracts the max first."""
    z = np.array([[1.0, 0.0, -1.0], [2.0, 2.0, 0.0]]) * scale
    p = be.softmax(z)
    lp = be.log_softmax(z)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    expected_p = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]] if scale > 0 else [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    assert_within(p, expected_p, _atol(dtype), "softmax of +-1e4")
    shifted = z - z.max(axis=1, keepdims=True)
    expected_lp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    # float32 spaces numbers near 2e4 by 2e-3: compare relative to the value's size
    assert_within(lp, expected_lp, _atol(dtype), "log_softmax of +-1e4", rtol=_atol(dtype))
    # the fused and nll levels stay finite too; the one-hot level takes log(0) only off the target
    y = np.array([0, 1]) if scale > 0 else np.array([2, 2])
    for level in ("nll", "fused"):
        assert np.isfinite(be.cross_entropy(z, y, level=level))


@pytest.mark.slow
def test_three_levels_agree(be, dtype, seed_spec):
    """The lesson's point: one-hot x -log(softmax), nll(log_softmax) and the fused op are one loss."""
    rng = np.random.default_rng(2)
    cases = [
        (seed_spec.x_train @ seed_spec.init_weight.T + seed_spec.init_bias, seed_spec.y_train),
        (rng.normal(size=(3, 5)), np.array([4, 2, 3])),
        (rng.normal(size=(64, 10)) * 3, rng.integers(0, 10, size=64)),
    ]
    for z, y in cases:
        for reduction in ("mean", "sum", "none"):
            values = {level: be.cross_entropy(z, y, reduction=reduction, level=level) for level in LEVELS}
            ref = np.asarray(values["fused"])
            scale = max(1.0, float(np.max(np.abs(ref))))
            for level in ("onehot", "nll"):
                assert np.shape(values[level]) == np.shape(ref)
                assert_within(values[level], ref, 8 * _atol(dtype) * scale, f"{level} vs fused, {reduction}")


@pytest.mark.slow
def test_loss_matches_the_formula(be, dtype):
    """-log softmax(z)[y], averaged, against a float64 NumPy computation written here."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(16, 4)) * 2
    y = rng.integers(0, 4, size=16)
    z_cast = z.astype(dtype).astype(np.float64)
    per_row = np.log(np.exp(z_cast).sum(axis=1)) - z_cast[np.arange(16), y]
    assert_within(be.cross_entropy(z, y, reduction="none"), per_row, 8 * _atol(dtype), "per-row loss")
    assert_within(be.cross_entropy(z, y), per_row.mean(), 8 * _atol(dtype), "mean loss")
    assert_within(be.cross_entropy(z, y, reduction="sum"), per_row.sum(), 64 * _atol(dtype), "summed loss")
    assert_within(be.nll_loss(be.log_softmax(z), y), per_row.mean(), 8 * _atol(dtype), "nll_loss")


@pytest.mark.parametrize(
    "target,message",
    [
        (np.array([2, -1]), r"target: class index -1 at position 1 is outside \[0, 3\)"),
        (np.array([3, 0]), r"target: class index 3 at position 0 is outside \[0, 3\)"),
        (np.array([0.0, 1.0]), r"target: expected integer class indices, got dtype float64"),
        (np.array([0, 1, 2]), r"target: expected shape \(2,\) for input of shape \(2, 3\), got \(3,\)"),
    ],
)
def test_bad_targets_raise_the_same_error_everywhere(backend_name, target, message):
    """NumPy would wrap -1 to the last class and JAX would return garbage: we refuse, in every backend."""
    be = get_backend(backend_name)
    z = np.zeros((2, 3))
    for level in LEVELS:
        with pytest.raises(BackendError, match=message):
            be.cross_entropy(z, target, level=level)
    with pytest.raises(BackendError, match=message):
        be.nll_loss(z, target)


def test_bad_options_are_named(backend_name):
    be = get_backend(backend_name)
    z, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(BackendError, match=r"reduction: unknown reduction 'avg'; known: mean, sum, none"):
        be.cross_entropy(z, y, reduction="avg")
    with pytest.raises(BackendError, match=r"level: unknown level 'low'; known: onehot, nll, fused"):
        be.cross_entropy(z, y, level="low")
    with pytest.raises(BackendError, match=r"dtype: unknown dtype 'float16'"):
        get_backend(backend_name, dtype="float16")
    with pytest.raises(BackendError, match=r"device: unknown device 'tpu'"):
        get_backend(backend_name, device="tpu")


# --- what torch does at the edges of softmax's input, in every backend ---------------------------
def test_softmax_of_a_0_d_input_is_one(be, dtype):
    """torch treats a 0-d input as one element along its own axis (dim 0 or -1): softmax 1, log_softmax 0."""
    for axis in (0, -1):
        p, lp = be.softmax(np.array(2.5), axis=axis), be.log_softmax(np.array(-7.0), axis=axis)
        assert p.shape == lp.shape == () and p.dtype == lp.dtype == np.dtype(dtype)
        assert p == 1.0 and lp == 0.0
    with np.errstate(invalid="ignore"):  # NumPy warns of its inf - inf
        assert np.isnan(be.softmax(np.array(np.inf), axis=0))  # nan, as torch


@pytest.mark.parametrize("shape,axis", [((5, 0, 0), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0), 1)])
def test_softmax_of_an_empty_input_is_empty(be, dtype, shape, axis):
    """A dimension of 0 gives an empty result, as torch's; NumPy's max alone would refuse the reduction."""
    for fn in (be.softmax, be.log_softmax):
        out = fn(np.zeros(shape), axis=axis)
        assert out.shape == shape and out.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "shape,axis,message",
    [
        (
            (2, 3),
            None,
            "axis: expected an integer, got None; softmax normalises along one axis, as torch's dim: "
            "name it (-1 for the last)",
        ),
        ((2, 3), 2, "axis: 2 is out of range for an input of 2 dimensions; expected an integer in [-2, 1]"),
        ((2, 3), -3, "axis: -3 is out of range for an input of 2 dimensions; expected an integer in [-2, 1]"),
        ((), 1, "axis: 1 is out of range for an input of 0 dimensions; expected an integer in [-1, 0]"),
        ((3,), 1.0, "axis: expected an integer, got 1.0"),
        ((3,), True, "axis: expected an integer, got True"),
    ],
)
def test_bad_axes_raise_the_same_error_everywhere(be, shape, axis, message):
    """axis=None would normalise the whole array in NumPy and JAX and a row in torch: refused, in every backend."""
    for fn in (be.softmax, be.log_softmax):
        with pytest.raises(BackendError) as info:
            fn(np.zeros(shape), axis=axis)
        assert str(info.value) == message
