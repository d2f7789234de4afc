"""Initial parameters made in common/: zeros, normal, and torch-linear bit for bit against torch."""

import numpy as np
import pytest

from softmax_rosetta import load_spec
from softmax_rosetta.init import normal, torch_linear, zeros
from softmax_rosetta.testing import require_backend

# (out_features, in_features): square, wide, tall, 1 x 1, fan_in not a power of 4 (bound not exact in float32)
SHAPES = [(3, 4), (10, 64), (1, 1), (5, 7), (100, 3), (3, 100), (2, 17), (4, 1000)]
SEEDS = [0, 1, 2, 42, 12345, 2**31 - 1, 2**32 + 7]  # the last: torch uses its low 32 bits


def test_torch_linear_reproduces_the_seed_specs_values():
    """The seed spec writes out what torch.manual_seed(1); nn.Linear(4, 3) drew."""
    spec = load_spec("seed")
    weight, bias = torch_linear(3, 4, seed=1)
    assert np.array_equal(weight, spec.init_weight) and np.array_equal(bias, spec.init_bias)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_torch_linear_matches_torch_bit_for_bit(shape, seed):
    require_backend("torch")
    import torch

    out_features, in_features = shape
    torch.manual_seed(seed)
    layer = torch.nn.Linear(in_features, out_features)
    weight, bias = torch_linear(out_features, in_features, seed)
    assert weight.dtype == np.float64 and weight.shape == shape and bias.shape == (out_features,)
    assert np.array_equal(weight.astype(np.float32), layer.weight.detach().numpy())
    assert np.array_equal(bias.astype(np.float32), layer.bias.detach().numpy())
    assert np.array_equal(weight.astype(np.float32).astype(np.float64), weight)  # float32 values, held exactly


def test_torch_linear_bounds_and_spread():
    weight, bias = torch_linear(50, 64, seed=0)
    assert np.abs(weight).max() <= 1 / 8 and np.abs(bias).max() <= 1 / 8
    assert weight.std() == pytest.approx(1 / 8 / np.sqrt(3), rel=0.05)  # U(-b, b) has std b / sqrt(3)


def test_zeros_and_normal():
    w, b = zeros(3, 5)
    assert w.shape == (3, 5) and b.shape == (3,) and not w.any() and not b.any()
    w, b = normal(30, 40, std=0.5, seed=3)
    assert w.shape == (30, 40) and b.shape == (30,)
    assert w.std() == pytest.approx(0.5, rel=0.05)
    assert np.array_equal(w.astype(np.float32).astype(np.float64), w)  # float32 values
    w2, b2 = normal(30, 40, std=0.5, seed=3)
    assert np.array_equal(w, w2) and np.array_equal(b, b2)
    assert not np.array_equal(w, normal(30, 40, std=0.5, seed=4)[0])


@pytest.mark.parametrize(
    "name,kind", [("seed", "explicit"), ("iris", "torch-linear"), ("digits", "torch-linear"), ("synthetic", "normal")]
)
def test_bundled_specs_init(name, kind):
    spec = load_spec(name)
    assert spec.init_kind == kind
    assert spec.init_weight.shape == (spec.num_classes, spec.num_features)
    assert spec.init_bias.shape == (spec.num_classes,)
    assert not spec.init_weight.flags.writeable


def test_iris_starts_where_the_lesson_starts():
    """iris uses torch-linear seed 1 with the seed's shape: the lesson's own initial values."""
    assert np.array_equal(load_spec("iris").init_weight, load_spec("seed").init_weight)
