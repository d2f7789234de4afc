"""The lesson's training loop in NumPy: SGD with a hand-written backward pass and update rule."""

import numpy as np

from . import functional
from .functional import cross_entropy, cross_entropy_grad
from .model import init_model, weight_and_bias


class SGD:
    """torch.optim.SGD written out (torch's ``_single_tensor_sgd``), updating the parameters in place:

        g   <- grad + weight_decay * p                       (weight decay joins the gradient)
        buf <- g on the first step,
               momentum * buf + (1 - dampening) * g after    (the momentum buffer)
        g   <- g + momentum * buf if nesterov else buf       (only when momentum != 0)
        p   <- p - lr * g

    params: the arrays by name (``model.parameters()``); ``buffers`` holds each one's momentum
    buffer between steps (empty before the first).
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.buffers = {}

    def step(self, grads):
        """One update from the gradients by name (``model.backward``'s dict)."""
        for name, g in grads.items():
            p = self.params[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                if name not in self.buffers:
                    self.buffers[name] = g.copy()
                else:
                    self.buffers[name] = self.momentum * self.buffers[name] + (1 - self.dampening) * g
                g = g + self.momentum * self.buffers[name] if self.nesterov else self.buffers[name]
            p -= self.lr * g


def make_optimizer(model, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The lesson's optimizer, torch.optim.SGD's rule (``SGD``), on the model's parameters."""
    return SGD(model.parameters(), lr, momentum, dampening, nesterov, weight_decay)


def loss_fn(model, x, y):
    """The cost: the mean cross-entropy of the model's logits."""
    return cross_entropy(model(x), y)


def train_step(model, optimizer, x, y):
    """One SGD step on one batch; returns the cost before the step.

    The backward pass by hand: the loss's gradient at the logits,
    dL/dz = (softmax(z) - one_hot(y)) / N (``cross_entropy_grad``), then the chain rule
    through the linear layer (``model.backward``).
    """
    prediction = model(x)
    cost = cross_entropy(prediction, y)
    grads = model.backward(x, cross_entropy_grad(prediction, y))
    optimizer.step(grads)
    return cost


def trace_step(model, optimizer, x, y):
    """``train_step`` with its intermediates kept, for ``softmax-rosetta diverge``.

    The step is ``train_step``'s operations in its order, so the cost and the new parameters
    are its bits; softmax, log_softmax and the two other loss levels are computed on the side
    from the same logits. Returns {name: array}, the names of ``softmax_rosetta.trace.QUANTITIES``.
    """
    prediction = model(x)
    cost = cross_entropy(prediction, y)
    grads = model.backward(x, cross_entropy_grad(prediction, y))
    optimizer.step(grads)
    weight, bias = weight_and_bias(model)
    return {
        "logits": prediction,
        "softmax": functional.softmax(prediction, axis=1),
        "log_softmax": functional.log_softmax(prediction, axis=1),
        "loss:onehot": functional.cross_entropy_onehot(prediction, y),
        "loss:nll": functional.cross_entropy_nll(prediction, y),
        "loss:fused": cost,
        "grad_weight": grads["weight"],
        "grad_bias": grads["bias"],
        "weight": weight.copy(),
        "bias": bias.copy(),
    }


def train(
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
    """Epochs 0..epochs inclusive; each takes one SGD step per batch, the lesson's full batch by default.

    x (N, D), y (N,), weight (C, D), bias (C,) are NumPy arrays. ``batches(epoch)`` lists each
    step's rows as index arrays (``softmax_rosetta.data.Batches``); None is full batch.
    momentum, dampening, nesterov, weight_decay: torch.optim.SGD's (see ``SGD``).

    An epoch's cost is the mean loss over the training rows, each batch's loss taken before
    its step: sum over batches of cost_b * (B_b / N). Full batch, that is the lesson's cost.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)); a run whose cost turns inf or nan
    stops after that epoch, and its costs end there.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    costs = np.zeros(epochs + 1, dtype=x.dtype)
    for epoch in range(epochs + 1):
        for rows in batches(epoch) if batches is not None else [slice(None)]:
            xb, yb = x[rows], y[rows]
            cost = train_step(model, optimizer, xb, yb)
            costs[epoch] += cost * (len(xb) / n)  # full batch: * 1.0, exactly the cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(costs[epoch]))
        if not np.isfinite(costs[epoch]):  # diverged: stop here (softmax_rosetta.backend reports it)
            return costs[: epoch + 1], *weight_and_bias(model)
    return costs, *weight_and_bias(model)


def sgd_steps(param, gradients, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The optimizer alone: SGD on one parameter (a copy), one step per gradient; the parameter after them.
    lr in the parameter's dtype, as the backend's training loop has it."""
    params = {"param": np.array(param)}
    optimizer = SGD(params, params["param"].dtype.type(lr), momentum, dampening, nesterov, weight_decay)
    for g in gradients:
        optimizer.step({"param": g})
    return params["param"]
