"""The lesson's training loop in NumPy: full-batch SGD with a hand-written backward pass."""

import numpy as np

from .model import init_params, loss_and_grads


def sgd_step(params, grads, lr):
    """Plain SGD, in place: p <- p - lr * grad (what torch's optimizer.step() does)."""
    for name, grad in grads.items():
        params[name] -= lr * grad


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None):
    """Epochs 0..epochs inclusive; each computes the cost, then takes one step.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    params = init_params(weight, bias)
    costs = np.empty(epochs + 1, dtype=x.dtype)
    for epoch in range(epochs + 1):
        cost, grads = loss_and_grads(params, x, y)
        sgd_step(params, grads, lr)
        costs[epoch] = cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(cost))
    return costs, params["weight"], params["bias"]
