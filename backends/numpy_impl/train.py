"""The lesson's training loop in NumPy: SGD with a hand-written backward pass and update rule."""

import numpy as np

from .model import init_params, loss_and_grads


def sgd_step(params, grads, lr, buffers, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """One step of torch.optim.SGD, in place, written out (torch's ``_single_tensor_sgd``):

        g   <- grad + weight_decay * p                       (weight decay joins the gradient)
        buf <- g on the first step,
               momentum * buf + (1 - dampening) * g after    (the momentum buffer)
        g   <- g + momentum * buf if nesterov else buf       (only when momentum != 0)
        p   <- p - lr * g

    ``buffers`` holds each parameter's momentum buffer between steps (empty before the first).
    """
    for name, g in grads.items():
        p = params[name]
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            if name not in buffers:
                buffers[name] = g.copy()
            else:
                buffers[name] = momentum * buffers[name] + (1 - dampening) * g
            g = g + momentum * buffers[name] if nesterov else buffers[name]
        p -= lr * g


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
          momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """Epochs 0..epochs inclusive; each takes one SGD step per batch, the lesson's full batch by default.

    ``batches(epoch)`` lists each step's rows as index arrays (``softmax_rosetta.data.Batches``); None is
    full batch. An epoch's cost is the mean loss over the training rows, each batch's loss
    taken before its step: sum over batches of cost_b * (B_b / N).

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    n = x.shape[0]
    params = init_params(weight, bias)
    buffers = {}
    costs = np.zeros(epochs + 1, dtype=x.dtype)
    for epoch in range(epochs + 1):
        for rows in (batches(epoch) if batches is not None else [slice(None)]):
            xb, yb = x[rows], y[rows]
            cost, grads = loss_and_grads(params, xb, yb)
            sgd_step(params, grads, lr, buffers, momentum, dampening, nesterov, weight_decay)
            costs[epoch] += cost * (len(xb) / n)  # full batch: * 1.0, exactly the cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(costs[epoch]))
        if not np.isfinite(costs[epoch]):  # diverged: stop here (softmax_rosetta.backend reports it)
            return costs[:epoch + 1], params["weight"], params["bias"]
    return costs, params["weight"], params["bias"]
