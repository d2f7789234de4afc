"""NumPy's hand-written backward pass, against central finite differences and torch/JAX autodiff."""

import numpy as np
import pytest

from softmax_rosetta.backends.numpy_impl.functional import cross_entropy_grad
from softmax_rosetta.backends.numpy_impl.model import init_model
from softmax_rosetta.backends.numpy_impl.train import loss_fn
from softmax_rosetta.testing import assert_within, require_backend


def _numpy_grads(model, x, y):
    """The hand-written backward pass: the loss's gradient at the logits, then the layer's."""
    return model.backward(x, cross_entropy_grad(model(x), y))


def _problem(seed_spec, seed=None):
    if seed is None:
        return seed_spec.x_train, seed_spec.y_train, seed_spec.init_weight, seed_spec.init_bias
    rng = np.random.default_rng(seed)
    n, d, c = 20, 5, 4
    return rng.normal(size=(n, d)), rng.integers(0, c, size=n), rng.normal(size=(c, d)), rng.normal(size=c)


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_numpy_gradient_matches_finite_differences(seed_spec, seed):
    x, y, w, b = _problem(seed_spec, seed)
    model = init_model(w, b)
    grads = _numpy_grads(model, x, y)
    params = model.parameters()
    h = 1e-6
    for name in ("weight", "bias"):
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            saved = params[name][index]
            params[name][index] = saved + h
            up = loss_fn(model, x, y)
            params[name][index] = saved - h
            down = loss_fn(model, x, y)
            params[name][index] = saved
            numeric[index] = (up - down) / (2 * h)
        # central differences: truncation ~h^2 * f''' and rounding ~eps / h = 2e-10
        assert_within(grads[name], numeric, 1e-8, f"d loss / d {name}")


@pytest.mark.parametrize("seed", [None, 0])
def test_numpy_gradient_matches_torch_autograd(seed_spec, seed):
    require_backend("torch")
    import torch

    from softmax_rosetta.backends.torch_impl import model as torch_model
    from softmax_rosetta.backends.torch_impl import train as torch_train

    x, y, w, b = _problem(seed_spec, seed)
    grads = _numpy_grads(init_model(w, b), x, y)
    model = torch_model.init_model(torch.tensor(w), torch.tensor(b))
    torch_train.loss_fn(model, torch.tensor(x), torch.tensor(y)).backward()
    assert_within(model.linear.weight.grad.numpy(), grads["weight"], 1e-14, "weight grad")
    assert_within(model.linear.bias.grad.numpy(), grads["bias"], 1e-14, "bias grad")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [None, 0])
def test_numpy_gradient_matches_jax_autodiff(seed_spec, seed):
    require_backend("jax")
    import jax.numpy as jnp
    from flax import nnx

    from softmax_rosetta.backends.jax_impl import model as jax_model
    from softmax_rosetta.backends.jax_impl import train as jax_train

    x, y, w, b = _problem(seed_spec, seed)
    grads = _numpy_grads(init_model(w, b), x, y)
    model = jax_model.init_model(jnp.asarray(w), jnp.asarray(b))
    jax_grads = nnx.grad(jax_train.loss_fn)(model, jnp.asarray(x), jnp.asarray(y))
    # Flax's kernel is (in, out): its gradient is the transpose of torch's weight gradient
    assert_within(np.asarray(jax_grads["linear"]["kernel"][...]).T, grads["weight"], 1e-14, "weight grad")
    assert_within(np.asarray(jax_grads["linear"]["bias"][...]), grads["bias"], 1e-14, "bias grad")
