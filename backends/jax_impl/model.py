"""The linear classifier in Flax NNX: an nnx.Module around nnx.Linear."""

import jax
import jax.numpy as jnp
from flax import nnx

# Full float32 matmuls: on a GPU, JAX would otherwise use TF32 for float32 (about 3
# significant digits fewer), and the backends could not be compared honestly.
PRECISION = jax.lax.Precision.HIGHEST


class SoftmaxClassifier(nnx.Module):
    """logits = x @ kernel + bias. Flax stores the kernel (in, out), the transpose of torch's weight.

    There is no backward to write: ``nnx.grad`` differentiates any function of the model.
    nnx.Linear wants ``rngs`` to draw its initial kernel, although ``init_model`` overwrites it.
    """

    def __init__(self, in_features, out_features, *, dtype=jnp.float32, rngs):
        self.linear = nnx.Linear(
            in_features, out_features, dtype=dtype, param_dtype=dtype, precision=PRECISION, rngs=rngs
        )

    def __call__(self, x):
        return self.linear(x)


def init_model(weight, bias):
    """A model that starts from the spec's parameters. weight is (C, D) as torch stores it:
    transpose it into Flax's (D, C) kernel here, at the boundary."""
    out_features, in_features = weight.shape
    model = SoftmaxClassifier(in_features, out_features, dtype=weight.dtype, rngs=nnx.Rngs(0))
    model.linear.kernel[...] = weight.T
    assert model.linear.bias is not None  # a Linear made with use_bias=True (the default) has one
    model.linear.bias[...] = bias
    return model


def weight_and_bias(model):
    """The parameters back in torch's layout: weight (C, D), bias (C,)."""
    return model.linear.kernel[...].T, model.linear.bias[...]


def stored_weight(model):
    """The weight as the model itself stores it: Flax's kernel, (D, C), the transpose of torch's."""
    return model.linear.kernel
