"""The lesson's training loop in JAX: a jitted step with nnx.value_and_grad and optax.sgd.

Two ways to run it, with the same trajectory:
- ``train``: the lesson's Python loop, one jitted step per epoch;
- ``train_fused``: all epochs in one compiled program (jax.jit around lax.scan), so Python
  and dispatch overhead are paid once instead of once per epoch.
"""

from functools import partial

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from .model import init_model, weight_and_bias


def loss_fn(model, x, y):
    """The mean cross-entropy of the model's logits."""
    prediction = model(x)
    return optax.softmax_cross_entropy_with_integer_labels(prediction, y).mean()


def _step(model, optimizer, x, y):
    cost, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)  # p <- p - lr * grad, written into the model's Params
    return cost


train_step = nnx.jit(_step)


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None):
    """Epochs 0..epochs inclusive; each computes the cost, then takes one step.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    model = init_model(weight, bias)
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    costs = []
    for epoch in range(epochs + 1):
        cost = train_step(model, optimizer, x, y)
        costs.append(cost)
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(cost))
    return jnp.stack(costs), *weight_and_bias(model)


@partial(jax.jit, static_argnums=(0, 4))
def _run_epochs(graphdef, state, x, y, num_steps):
    def one_epoch(state, _):
        model, optimizer = nnx.merge(graphdef, state)
        cost = _step(model, optimizer, x, y)
        return nnx.state((model, optimizer)), cost

    return jax.lax.scan(one_epoch, state, length=num_steps)


def train_fused(x, y, weight, bias, lr, epochs, log_every=0, log=None):
    """The same run as ``train`` as one compiled program: jit around lax.scan over the epochs.

    NNX objects can't cross a jit boundary as such: nnx.split turns model and optimizer
    into a static graph definition and a pytree of arrays, nnx.merge rebuilds them inside.
    The costs come back all at once, so ``log`` is called after the run.
    """
    model = init_model(weight, bias)
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    state, costs = _run_epochs(graphdef, state, x, y, epochs + 1)
    nnx.update((model, optimizer), state)
    if log is not None and log_every:
        for epoch in range(0, epochs + 1, log_every):
            log(epoch, float(costs[epoch]))
    return costs, *weight_and_bias(model)
