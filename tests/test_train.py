"""Training runs: every backend reproduces the lesson, and every pair of backends agrees.

Tolerances come from the spec (common/specs/seed.toml), where each says how it was measured.
"""

from itertools import combinations

import numpy as np
import pytest

from softmax_rosetta import get_backend
from softmax_rosetta.compare import check_expected, check_forward, check_pair, forward_outputs
from softmax_rosetta.testing import (
    DTYPES,
    assert_within,
    require_backend,
    require_device,
    selected_backends,
    training_runs,
)

SELECTED = selected_backends()

RUNS = training_runs()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", RUNS, ids=[f"{n}:{v}" for n, v in RUNS])
def test_reproduces_the_lessons_costs(trained, seed_spec, name, variant, dtype):
    result = trained(name, variant, dtype)
    assert result.costs.shape == (seed_spec.epochs + 1,)
    assert result.costs.dtype == np.dtype(dtype)
    assert result.weight.shape == (3, 4) and result.bias.shape == (3,)
    assert result.weight.dtype == np.dtype(dtype)
    check = check_expected(result, seed_spec)
    assert check.passed, check.line()
    # the cost falls, and the model learns the 8 training samples
    assert result.costs[-1] < result.costs[0]
    assert result.accuracy == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a,b", list(combinations(RUNS, 2)), ids=lambda r: f"{r[0]}:{r[1]}")
def test_every_pair_of_runs_agrees(trained, seed_spec, a, b, dtype):
    """All 1001 costs and the final parameters, within the spec's tolerance for the dtype."""
    for check in check_pair(trained(*a, dtype), trained(*b, dtype), seed_spec):
        assert check.passed, check.line()


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_outputs_agree(seed_spec, dtype):
    """softmax, log_softmax and the three loss levels on the seed data, every pair of backends."""
    outputs = {}
    for name in SELECTED:
        cls = require_backend(name)
        if dtype == "float64" and "cpu" in cls.no_float64:  # a backend that says it can't (MLX, and why)
            continue
        outputs[name] = forward_outputs(get_backend(name, dtype=dtype), seed_spec)
    if len(outputs) < 2:
        pytest.skip("needs two backends")
    checks = check_forward(outputs, seed_spec, dtype)
    assert len(checks) == 5 * len(outputs) * (len(outputs) - 1) // 2
    failed = [c.line() for c in checks if not c.passed]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_jax_fused_loop_equals_the_step_by_step_loop(trained, seed_spec, dtype):
    if "jax" not in SELECTED:
        pytest.skip("jax not selected")
    step, fused = trained("jax", "lesson", dtype), trained("jax", "fused", dtype)
    for check in check_pair(step, fused, seed_spec):
        assert check.passed, check.line()
    # On the CPU the two compile to the same arithmetic: measured identical, bit for bit.
    assert np.array_equal(step.costs, fused.costs)


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", RUNS, ids=[f"{n}:{v}" for n, v in RUNS])
def test_the_same_run_twice_is_bit_identical(trained, seed_spec, name, variant):
    first = trained(name, variant, "float32")
    again = get_backend(name, dtype="float32").train(seed_spec, variant=variant)
    assert np.array_equal(first.costs, again.costs)
    assert np.array_equal(first.weight, again.weight) and np.array_equal(first.bias, again.bias)


def test_epochs_lr_and_logging(seed_spec, backend_name):
    be = get_backend(backend_name)
    lines = []
    result = be.train(seed_spec, epochs=10, lr=0.05, log_every=5, log=lambda e, c: lines.append((e, c)))
    assert result.costs.shape == (11,) and result.epochs == 10 and result.lr == 0.05
    assert [e for e, _ in lines] == [0, 5, 10]
    assert_within([c for _, c in lines], result.costs[[0, 5, 10]], 0.0, "logged costs")
    # the lesson's epoch 0 computes the cost, then steps: epochs=0 is one cost and one step
    zero = be.train(seed_spec, epochs=0)
    assert zero.costs.shape == (1,)
    assert_within(zero.costs, result.costs[:1], 0.0, "epoch 0")
    assert not np.array_equal(zero.weight, seed_spec.init_weight.astype(np.float32))


def test_results_record_their_precision_settings(trained):
    settings = {}
    for backend, variant in RUNS:
        require_backend(backend)
        settings[backend] = trained(backend, variant, "float32").settings
    for s in settings.values():
        assert s["python"] and s["numpy"]
    if "torch" in settings:
        assert settings["torch"]["cuda_matmul_fp32_precision"] == "ieee"  # TF32 off
        assert settings["torch"]["cudnn_fp32_precision"] == "ieee"
    if "jax" in settings:
        assert settings["jax"]["model_matmul_precision"] == "HIGHEST"


# --- GPU: the same checks where a GPU is visible; skipped with the reason where not ---------

GPU_RUNS = [r for r in RUNS if r[0] in ("torch", "jax")]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,variant", GPU_RUNS, ids=[f"{n}:{v}" for n, v in GPU_RUNS])
def test_gpu_run_reproduces_the_lesson_and_agrees_with_the_cpu(trained, seed_spec, name, variant, dtype):
    require_device(name, "cuda")
    gpu = trained(name, variant, dtype, device="cuda")
    assert gpu.device == "cuda"
    assert check_expected(gpu, seed_spec).passed, check_expected(gpu, seed_spec).line()
    for check in check_pair(gpu, trained("numpy", "lesson", dtype), seed_spec):
        assert check.passed, check.line()
