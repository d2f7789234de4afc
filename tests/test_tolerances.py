"""Derived tolerances (``softmax_rosetta.tolerances``), honest in both directions, with real runs.

- inside: every pair of the real backends' runs (``training_runs``: numpy, torch, jax, each skipped
  with its reason when missing) differs by no more than the derived envelope, check by check
  (the report's names), every epoch's cost against that epoch's envelope, both dtypes;
- not vacuous: in float32 on the seed, iris and digits specs, the largest observed difference of
  each kind (forward outputs, costs, parameters) is at least 1/30 of its envelope;
- outside: a deliberately wrong run (lr off by one part in 10**5; a softmax without the max
  subtraction on large logits) leaves the envelope.
"""

import dataclasses
import functools
from itertools import combinations

import numpy as np
import pytest

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.compare import differences, forward_outputs
from softmax_rosetta.registry import REFERENCE_BACKEND, missing_packages
from softmax_rosetta.spec import DTYPES
from softmax_rosetta.testing import require_variant, selected_backends, training_runs
from softmax_rosetta.tolerances import FORWARD_CHECKS, checkpoint_every, derive

SLOW = pytest.mark.slow
# more than about a second a case beyond the seed (iris: 3-4 s with torch or jax): slow
SPECS = ["seed", *(pytest.param(name, marks=SLOW) for name in ("iris", "digits", "synthetic"))]
RUNS = training_runs()
PAIRS = list(combinations(RUNS, 2))
NOT_VACUOUS = 1 / 30  # issue 21: the largest observed difference is at least this much of the envelope


@functools.cache
def _spec(name):
    return load_spec(name)


@functools.cache
def _envelope(name, dtype):
    return derive(_spec(name), dtype)


@functools.cache
def _run(name, dtype, backend, variant):
    return get_backend(backend, dtype=dtype).train(_spec(name), variant=variant)


@functools.cache
def _forward(name, dtype, backend):
    return forward_outputs(get_backend(backend, dtype=dtype), _spec(name))


def _ratios(name, dtype, a, b):
    """observed difference / envelope of runs a and b ((backend, variant) each), per check; costs: the worst epoch."""
    env = _envelope(name, dtype)
    ra, rb = _run(name, dtype, *a), _run(name, dtype, *b)
    cost_diff = np.abs(np.asarray(ra.costs, np.float64) - np.asarray(rb.costs, np.float64))
    params = max(differences(ra.weight, rb.weight)[0], differences(ra.bias, rb.bias)[0])
    out = {"costs": float(np.max(cost_diff / env.costs)), "params": params / env.params}
    if a[0] != b[0]:  # one backend's variants share its forward functions
        fa, fb = _forward(name, dtype, a[0]), _forward(name, dtype, b[0])
        out.update({key: differences(fa[key], fb[key])[0] / env.forward[key] for key in FORWARD_CHECKS})
    return out


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a[0]}:{a[1]}-{b[0]}:{b[1]}" for a, b in PAIRS])
def test_correct_runs_are_inside(name, dtype, a, b):
    for backend, variant in (a, b):
        require_variant(backend, variant)
    ratios = _ratios(name, dtype, a, b)
    outside = {check: f"{r:.3g}" for check, r in ratios.items() if not r <= 1}
    assert not outside, f"{name} {dtype} {a} vs {b}: observed / envelope > 1: {outside}"


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_cost_envelope_is_per_checkpoint(name, dtype):
    """The cost envelope is a step per checkpoint (0, every, ..., the last epoch), spread over every epoch."""
    spec, env = _spec(name), _envelope(name, dtype)
    marks = [e for e, _ in env.checkpoints]
    every = checkpoint_every(spec)
    assert marks == sorted({0, *range(every, spec.epochs, every), spec.epochs})
    assert env.costs.shape == (spec.epochs + 1,)
    assert np.all(np.isfinite(env.costs)) and np.all(env.costs > 0)
    assert [env.costs[e] for e in marks] == [v for _, v in env.checkpoints]


def _installed_frameworks():
    return [name for name in selected_backends() if not missing_packages(name)]


@pytest.mark.parametrize("name", ["seed", "iris", pytest.param("digits", marks=SLOW)])
def test_envelope_is_not_vacuous(name):
    """float32: the largest difference between two real backends, per kind of check, is >= 1/30 of the envelope."""
    if len(_installed_frameworks()) < 2:
        pytest.skip(f"needs two installed backends to observe a difference; installed: {_installed_frameworks()}")
    runs = [r for r in RUNS if not missing_packages(r[0])]
    largest = {"forward": 0.0, "costs": 0.0, "params": 0.0}
    for a, b in combinations(runs, 2):
        for check, ratio in _ratios(name, "float32", a, b).items():
            kind = "forward" if check in FORWARD_CHECKS else check
            largest[kind] = max(largest[kind], ratio)
    vacuous = {kind: f"{r:.3g}" for kind, r in largest.items() if not r >= NOT_VACUOUS}
    assert not vacuous, f"{name} float32: largest observed / envelope below 1/30: {vacuous} (all: {largest})"


@pytest.mark.parametrize("name", ["seed", "iris"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lr_off_by_one_part_in_1e5_is_outside(name, dtype):
    """The NumPy reference with lr * (1 + 1e-5), against the right one: some check leaves the envelope."""
    spec, env = _spec(name), _envelope(name, dtype)
    wrong = get_backend(REFERENCE_BACKEND, dtype=dtype).train(spec.replace(lr=spec.lr * (1 + 1e-5)))
    right = _run(name, dtype, REFERENCE_BACKEND, "lesson")
    costs = float(np.max(np.abs(np.asarray(wrong.costs, np.float64) - right.costs) / env.costs))
    params = max(differences(wrong.weight, right.weight)[0], differences(wrong.bias, right.bias)[0]) / env.params
    assert max(costs, params) > 1, f"{name} {dtype}: observed / envelope {costs:.3g} (costs), {params:.3g} (params)"


def _naive_softmax(z):
    """softmax without the max subtraction: exp(z) / sum exp(z), which overflows on large logits."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / np.sum(e, axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_without_the_max_subtraction_is_outside(dtype):
    """The seed's initial weight times 1000 (logits up to thousands): every real backend's softmax stays inside
    the envelope derived for it, the naive one leaves it."""
    seed = _spec("seed")
    spec = dataclasses.replace(seed.replace(epochs=1), init_weight=seed.init_weight * 1000)
    env = derive(spec, dtype)
    logits = spec.x_train.astype(dtype) @ spec.init_weight.astype(dtype).T + spec.init_bias.astype(dtype)
    assert np.max(np.abs(logits)) > 1000  # exp overflows in both dtypes
    reference = get_backend(REFERENCE_BACKEND, dtype=dtype).softmax(logits)
    for backend in _installed_frameworks():
        right = get_backend(backend, dtype=dtype).softmax(logits)
        assert differences(right, reference)[0] <= env.forward["softmax"], backend
    naive = differences(_naive_softmax(logits), reference)[0]
    assert not naive <= env.forward["softmax"], f"naive softmax: max|diff| {naive} within {env.forward['softmax']}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_derive_is_deterministic(dtype):
    spec = _spec("seed").replace(epochs=20)
    a, b, other = derive(spec, dtype), derive(spec, dtype), derive(spec, dtype, seed=1)
    assert a.forward == b.forward and a.params == b.params and np.array_equal(a.costs, b.costs)
    assert not np.array_equal(a.costs, other.costs)  # the seed matters


def test_envelope_scales_with_the_precision():
    """float64's envelope is float32's times about 2**-29 (the ratio of their unit roundoffs), within 2**3."""
    spec = _spec("seed").replace(epochs=50)
    e32, e64 = derive(spec, "float32"), derive(spec, "float64")
    for check in FORWARD_CHECKS:
        ratio = e64.forward[check] / e32.forward[check]
        assert 2.0**-32 < ratio < 2.0**-26, (check, ratio)
