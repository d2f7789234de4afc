"""The linear classifier in NumPy: parameters are a plain dict, forward and backward by hand."""

import numpy as np

from .functional import cross_entropy, cross_entropy_grad


def init_params(weight, bias):
    """The model's parameters: weight (C, D) stored (out, in) as torch stores it, bias (C,)."""
    return {"weight": np.array(weight), "bias": np.array(bias)}


def forward(params, x):
    """logits = x W^T + b: (N, D) @ (D, C) + (C,) -> (N, C)."""
    return x @ params["weight"].T + params["bias"]


def loss_and_grads(params, x, y):
    """The mean cross-entropy and its gradients, by the chain rule written out.

    dL/dz = (softmax(z) - one_hot(y)) / N     (N, C)
    dL/dW = (dL/dz)^T x                       (C, D)
    dL/db = sum over rows of dL/dz            (C,)
    """
    logits = forward(params, x)
    cost = cross_entropy(logits, y)
    dz = cross_entropy_grad(logits, y)
    return cost, {"weight": dz.T @ x, "bias": dz.sum(axis=0)}
