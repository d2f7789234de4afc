"""The traced lesson step (each backend's ``trace_step``, ``softmax_rosetta.trace``): the same run as the lesson loop.

A trace is only worth comparing if tracing changed nothing: the traced run's costs and parameters must
be the lesson loop's bits, in every backend and dtype, full batch and in mini-batches with momentum.
"""

import numpy as np
import pytest

from softmax_rosetta import BackendError, load_spec
from softmax_rosetta.testing import DTYPES, require_backend, require_dtype, selected_backends
from softmax_rosetta.trace import QUANTITIES, step_count, trace

FULL_BATCH = {"epochs": 40}
MINI_BATCHES = {"epochs": 6, "batch_size": 3, "shuffle": True, "momentum": 0.9, "weight_decay": 0.01}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", selected_backends())
@pytest.mark.parametrize("changes", [FULL_BATCH, MINI_BATCHES], ids=["full-batch", "mini-batches"])
def test_the_traced_run_is_the_lesson_loops_run_bit_for_bit(name, dtype, changes):
    backend = require_dtype(name, dtype)(dtype=dtype)
    spec = load_spec("seed").replace(**changes)
    steps = trace(backend, spec)
    result = backend.train(spec)
    assert len(steps) == step_count(spec) == sum(len(spec.batches(e)) for e in range(spec.epochs + 1))
    assert [s.step for s in steps] == list(range(len(steps)))
    last = steps[-1].values
    np.testing.assert_array_equal(last["weight"], result.weight)
    np.testing.assert_array_equal(last["bias"], result.bias)
    if "batch_size" not in changes:  # full batch: step n's cost is epoch n's, exactly
        np.testing.assert_array_equal(np.array([s.values["loss:fused"] for s in steps]), result.costs)


@pytest.mark.parametrize("name", selected_backends())
def test_each_step_holds_every_quantity_in_its_shape_and_dtype(name):
    backend = require_backend(name)(dtype="float32")
    spec = load_spec("seed").replace(epochs=3)
    n, c, d = spec.num_samples, *spec.init_weight.shape
    shapes = {"logits": (n, c), "softmax": (n, c), "log_softmax": (n, c), "grad_weight": (c, d), "grad_bias": (c,)}
    shapes |= {"weight": (c, d), "bias": (c,), "loss:onehot": (), "loss:nll": (), "loss:fused": ()}
    (first,) = trace(backend, spec, steps=[0])
    assert list(first.values) == list(QUANTITIES) and first.step == first.epoch == 0
    for q in QUANTITIES:
        assert first.values[q].shape == shapes[q], q
        assert first.values[q].dtype == np.float32, q
    # what the quantities are: the spec's logits, their softmax, the three levels of one loss, its gradient
    logits = spec.x_train.astype(np.float32) @ spec.init_weight.astype(np.float32).T + spec.init_bias.astype(np.float32)
    np.testing.assert_allclose(first.values["logits"], logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(first.values["softmax"].sum(axis=1), 1.0, rtol=1e-6)
    for level in ("loss:onehot", "loss:nll"):
        np.testing.assert_allclose(first.values[level], first.values["loss:fused"], rtol=1e-6)
    one_hot = np.eye(c)[spec.y_train]
    np.testing.assert_allclose(first.values["grad_bias"], (first.values["softmax"] - one_hot).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(
        first.values["weight"], spec.init_weight - spec.lr * first.values["grad_weight"], rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("steps", [[4004], [-1]])
def test_a_step_outside_the_run_is_refused_in_one_line(steps):
    backend = require_backend("numpy")()
    with pytest.raises(BackendError, match=r"^steps: step -?\d+ is outside the run's steps 0\.\.1000$"):
        trace(backend, load_spec("seed"), steps=steps)


def test_only_the_steps_asked_for_are_kept_and_the_run_stops_after_the_last():
    backend = require_backend("numpy")()
    kept = trace(backend, load_spec("seed"), steps=range(10, 20, 3))
    assert [s.step for s in kept] == [10, 13, 16, 19]
