"""The lesson's training loop in MLX: nn.value_and_grad, mlx.optimizers.SGD, and mx.eval once per epoch.

MLX is lazy: ``train_step`` only records the step's graph; ``mx.eval`` computes it. The loop
evaluates the cost, the parameters and the optimizer's state once per epoch, where the lesson
reads the cost (to log it and to stop on inf or nan), so an epoch's batches run as one graph.
On a small model the time goes to the operations in that graph, each a few microseconds of
dispatch (the wait for ``mx.eval`` itself is ~10 us), so the loop adds none it doesn't need:
full batch, the epoch's cost is the step's cost, and it is read once, as a Python float.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

from . import functional
from .model import init_model, weight_and_bias


class DampenedSGD(optim.SGD):
    """mlx.optimizers.SGD with torch's momentum buffer where they differ: dampening.

    torch's rule, for each parameter p with gradient g, at step t = 1, 2, ...:

        g   <- g + weight_decay * p
        buf <- g if t = 1, else momentum * buf + (1 - dampening) * g     (when momentum != 0)
        g   <- g + momentum * buf if nesterov, else buf                  (when momentum != 0)
        p   <- p - lr * g

    mlx.optimizers.SGD is this rule but for the first buffer: it starts from a zero buffer, so its
    first is (1 - dampening) * g where torch's is g. Without dampening the two agree (0 * momentum
    + g), and ``make_optimizer`` uses mlx's own SGD; with dampening, this class writes torch's
    first step (``self.step`` is 1 on the first update: the optimizer counts before applying).
    Weight decay and Nesterov are mlx's as they are (torch's). (torch refuses nesterov with
    dampening, and so do mlx and the spec.)
    """

    def apply_single(self, gradient, parameter, state):
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        damped = self.momentum * state["v"] + (1 - self.dampening) * gradient
        v = mx.where(self.step == 1, gradient, damped)
        state["v"] = v
        update = gradient + self.momentum * v if self.nesterov else v
        return parameter - self.learning_rate.astype(gradient.dtype) * update


def make_optimizer(model, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The lesson's optimizer: mlx.optimizers.SGD (``DampenedSGD`` where dampening != 0).

    lr goes in as an array of the parameters' dtype: mlx keeps a plain float as a float32 array,
    which would round a float64 run's lr to float32. The optimizer's state is made now (``init``),
    so a compiled step finds it there. ``model`` is unused by MLX's optimizers, which take the
    parameters at each ``update``; it is kept for the signature every backend shares.
    """
    dtype = model.linear.weight.dtype
    cls = DampenedSGD if momentum and dampening else optim.SGD
    optimizer = cls(
        learning_rate=mx.array(lr, dtype=dtype),  # type: ignore[arg-type]  # mlx keeps mx.array(it); hinted float
        momentum=momentum,
        weight_decay=weight_decay,
        dampening=dampening,
        nesterov=nesterov,
    )
    optimizer.init(model.trainable_parameters())
    return optimizer


def loss_fn(model, x, y):
    """The cost: the mean cross-entropy of the model's logits (mlx.nn.losses.cross_entropy)."""
    prediction = model(x)
    return nn.losses.cross_entropy(prediction, y, reduction="mean")


def train_step(model, optimizer, x, y):
    """One SGD step on one batch; returns the cost before the step (lazy: not computed yet).

    ``nn.value_and_grad(model, loss_fn)`` returns the cost and the gradients as a tree shaped like
    the model's trainable parameters; ``optimizer.update`` sets the new parameters on the model.
    """
    cost, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return cost


def trace_step(model, optimizer, x, y):
    """``train_step`` with its intermediates kept, for ``softmax-rosetta diverge``.

    The step is ``train_step``'s operations in its order (the logits, the loss, its gradients,
    the SGD update), so the cost and the new parameters are its bits; softmax, log_softmax and
    the two other loss levels are computed on the side from the same logits.
    Returns {name: array}, the names of ``softmax_rosetta.trace.QUANTITIES``, evaluated.
    """
    z = model(x)
    cost, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    optimizer.update(model, grads)
    weight, bias = weight_and_bias(model)
    values = {
        "logits": z,
        "softmax": functional.softmax(z, axis=1),
        "log_softmax": functional.log_softmax(z, axis=1),
        "loss:onehot": functional.cross_entropy_onehot(z, y),
        "loss:nll": functional.cross_entropy_nll(z, y),
        "loss:fused": cost,
        "grad_weight": grads["linear"]["weight"],
        "grad_bias": grads["linear"]["bias"],
        "weight": weight,
        "bias": bias,
    }
    mx.eval(values, optimizer.state)
    return values


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

    x (N, D), y (N,), weight (C, D), bias (C,) are mx arrays. ``batches(epoch)`` lists each
    step's rows as index arrays (``softmax_rosetta.data.Batches``: the same rows in the same
    order in every backend); None is full batch.
    momentum, dampening, nesterov, weight_decay: torch.optim.SGD's (see ``DampenedSGD``).

    An epoch's cost is the mean loss over the training rows, each batch's loss taken before
    its step: sum over batches of cost_b * (B_b / N). Full batch, that is the lesson's cost.
    ``mx.eval`` computes the epoch (its cost, the parameters, the optimizer's state) at its end.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)); a run whose cost turns inf or nan
    stops after that epoch, and its costs end there.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    costs = []
    for epoch in range(epochs + 1):
        shares = []
        for rows in batches(epoch) if batches is not None else [None]:
            xb, yb = (x, y) if rows is None else (x[mx.array(rows)], y[mx.array(rows)])
            cost = train_step(model, optimizer, xb, yb)
            shares.append(_share(cost, xb.shape[0], n))
        epoch_cost = sum(shares[1:], shares[0])  # in order; full batch, the one share: no addition
        mx.eval(epoch_cost, model.parameters(), optimizer.state)
        costs.append(epoch_cost)
        value = epoch_cost.item()  # computed: a copy, no new operation
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, value)
        if not math.isfinite(value):  # diverged: stop here (softmax_rosetta.backend reports it)
            break
    return mx.stack(costs), *weight_and_bias(model)


def _share(cost, rows, n):
    """A batch's share of the epoch's cost, ``cost * rows / n`` (lazy); a full batch's share is its
    cost, with no operation added to the graph (x 1.0 is exact)."""
    return cost if rows == n else cost * (rows / n)


def sgd_steps(param, gradients, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The optimizer alone: ``make_optimizer``'s SGD on one parameter, one step per gradient; the
    parameter after them (``apply_gradients`` on a one-parameter tree)."""
    cls = DampenedSGD if momentum and dampening else optim.SGD
    optimizer = cls(
        learning_rate=mx.array(lr, dtype=param.dtype),  # type: ignore[arg-type]  # as make_optimizer
        momentum=momentum,
        weight_decay=weight_decay,
        dampening=dampening,
        nesterov=nesterov,
    )
    tree = {"p": param}
    for g in gradients:
        tree = optimizer.apply_gradients({"p": g}, tree)
        mx.eval(tree, optimizer.state)
    return tree["p"]
