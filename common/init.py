"""Initial parameters, made once here in NumPy and handed to every backend.

Every function returns (weight (C, D), bias (C,)) as float64 arrays, weight stored (out, in) as
torch stores it. Each backend starts from these values instead of its own random draw, so two
backends' runs can be compared step by step.

- ``zeros``: all zero (softmax regression's loss is convex, so this is a fine start).
- ``normal(std, seed)``: N(0, std^2) from NumPy's default generator.
- ``torch_linear(seed)``: exactly what ``torch.manual_seed(seed); nn.Linear(D, C)`` draws,
  reproduced without torch.
"""

from __future__ import annotations

import math

import numpy as np

INIT_KINDS = ("explicit", "zeros", "normal", "torch-linear")


def zeros(out_features: int, in_features: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((out_features, in_features)), np.zeros(out_features)


def normal(out_features: int, in_features: int, std: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """weight and bias ~ N(0, std^2), from ``numpy.random.default_rng(seed)``: weight first
    (row-major), bias after. Rounded to float32 values, so float32 and float64 runs start from
    the same point (as torch-linear's and the seed's values do)."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, std, size=(out_features, in_features))
    bias = rng.normal(0.0, std, size=out_features)
    return _float32_values(weight), _float32_values(bias)


def torch_linear(out_features: int, in_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``torch.manual_seed(seed); nn.Linear(in_features, out_features)`` draws, bit for bit.

    torch's CPU generator is MT19937 seeded the classic way (init_genrand with the seed's low
    32 bits), which is how NumPy's legacy ``RandomState(seed)`` seeds it; its state drives a
    plain ``MT19937`` bit generator here. nn.Linear's ``reset_parameters`` then fills, in order:

    - weight (C, D), row-major: ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-bound, bound) with
      bound = sqrt(3) * gain / sqrt(fan_in), gain = sqrt(2 / (1 + a^2)) (about 1/sqrt(fan_in));
    - bias (C,): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    For float32, torch's ``uniform_(from, to)`` turns one 32-bit draw r into
    u = (r & (2^24 - 1)) / 2^24, then computes u * (to - from) + from in double with from and
    to first rounded to float32, and stores the result as float32. Each step below does the
    same, so the results agree with torch's to the last bit (tests/test_init.py checks this).
    """
    fan_in = in_features
    a = math.sqrt(5)  # torch's literal expressions, for the same doubles
    gain = math.sqrt(2.0 / (1 + a**2))
    weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
    bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0

    u = _torch_uniform_24bit(seed, out_features * in_features + out_features)
    weight = _scale(u[: out_features * in_features], weight_bound).reshape(out_features, in_features)
    bias = _scale(u[out_features * in_features :], bias_bound)
    return weight, bias


def _torch_uniform_24bit(seed: int, n: int) -> np.ndarray:
    """n numbers u in [0, 1), each from one 32-bit draw of torch's CPU generator after manual_seed(seed)."""
    # RandomState seeds MT19937 with init_genrand, as torch does; copy its state into a bare MT19937.
    state = np.random.RandomState(seed & 0xFFFFFFFF).get_state(legacy=False)
    bits = np.random.MT19937()
    bits.state = {"bit_generator": "MT19937", "state": state["state"]}
    draws = bits.random_raw(n)  # uint64 holding 32-bit outputs
    return (draws & (2**24 - 1)).astype(np.float64) / 2**24


def _scale(u: np.ndarray, bound: float) -> np.ndarray:
    low, high = float(np.float32(-bound)), float(np.float32(bound))
    return _float32_values(u * (high - low) + low)


def _float32_values(a: np.ndarray) -> np.ndarray:
    """The nearest float32 values, held in float64."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)
