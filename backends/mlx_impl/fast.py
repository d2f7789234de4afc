"""The lesson's loop made fast in MLX: ``mx.compile`` around the step.

``train.train`` is the lesson as written: an nn.Module, nn.value_and_grad, mlx.optimizers.SGD,
and ``mx.eval`` once per epoch. Two loops here give the same trajectory with less work per step:

- ``train_compiled`` keeps the lesson's objects and every option of ``train.train``: the step
  (value_and_grad and the optimizer's update) under ``mx.compile``, with the model's and the
  optimizer's state declared as the compiled function's implicit inputs and outputs, as MLX's
  docs write it; mx.compile traces the graph once per input shape and fuses its element-wise ops;
- ``train_fast`` drops them, for full-batch plain SGD: the parameters are two arrays, W kept
  (C, D), the gradient written out, as in the NumPy backend, instead of traced by
  ``nn.value_and_grad``; one epoch is one compiled function. It has no mini-batches, momentum,
  dampening, Nesterov or weight decay; asking for them is a ``BackendError`` naming the option.

Both evaluate once per epoch (``mx.eval``), read the cost once as a Python float, and stop after a
cost that is inf or nan, as ``train.train`` does.
"""

import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn

from softmax_rosetta.checks import check_plain_sgd

from .model import init_model, weight_and_bias
from .train import _share, loss_fn, make_optimizer


def train_compiled(
    x,
    y,
    weight,
    bias,
    lr,
    epochs,
    log_every=0,
    log=None,
    *,
    batches=None,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
):
    """The same run as ``train.train`` with the step under ``mx.compile``. Same arguments, same result.

    A compiled function may not change arrays it doesn't return; the model's and the optimizer's
    state are that: ``mx.compile(..., inputs=state, outputs=state)`` makes them its inputs and
    outputs. The first call for each batch shape compiles (a shorter last batch compiles once more).
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    state = [model.state, optimizer.state]
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        cost, grads = loss_and_grad(model, xb, yb)
        optimizer.update(model, grads)
        return cost

    costs = []
    for epoch in range(epochs + 1):
        shares = []
        for rows in batches(epoch) if batches is not None else [None]:
            xb, yb = (x, y) if rows is None else (x[mx.array(rows)], y[mx.array(rows)])
            shares.append(_share(step(xb, yb), xb.shape[0], n))
        epoch_cost = sum(shares[1:], shares[0])
        mx.eval(epoch_cost, state)
        costs.append(epoch_cost)
        value = epoch_cost.item()
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, value)
        if not math.isfinite(value):
            break
    return mx.stack(costs), *weight_and_bias(model)


@mx.compile
def _epoch(x, y_one_hot, w, b, scale):
    """One epoch of full-batch SGD, compiled: with z = x W^T + b, log p = log_softmax(z), Y = one_hot(y),

    cost  = -mean over rows of log p[y]
    W    <- W - (lr / N) (p - Y)^T x          b <- b - (lr / N) sum over rows of (p - Y)
    """
    z = x @ w.T + b
    log_p = nn.log_softmax(z, axis=1)
    cost = -mx.sum(log_p * y_one_hot) / x.shape[0]
    dz = mx.exp(log_p) - y_one_hot  # p - Y
    return cost, w - scale * (dz.T @ x), b - scale * dz.sum(axis=0)


def train_fast(
    x,
    y,
    weight,
    bias,
    lr,
    epochs,
    log_every=0,
    log=None,
    *,
    batches=None,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
):
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int, weight (C, D), bias (C,): mx arrays.
    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    w, b = weight, bias
    y_one_hot = (y[:, None] == mx.arange(w.shape[0])).astype(x.dtype)
    scale = mx.array(lr / x.shape[0], dtype=x.dtype)
    costs = []
    for epoch in range(epochs + 1):
        cost, w, b = _epoch(x, y_one_hot, w, b, scale)
        mx.eval(cost, w, b)
        costs.append(cost)
        value = cost.item()
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, value)
        if not math.isfinite(value):
            break
    return mx.stack(costs), w, b
