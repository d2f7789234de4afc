"""The lesson's training loop in PyTorch: F.cross_entropy, backward(), optim.SGD."""

import torch
import torch.nn.functional as F
import torch.optim as optim

from . import functional
from .model import init_model, weight_and_bias


def make_optimizer(model, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The lesson's optimizer: torch.optim.SGD itself, on the model's parameters."""
    return optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay
    )


def loss_fn(model, x, y):
    """The cost: the mean cross-entropy of the model's logits."""
    prediction = model(x)
    return F.cross_entropy(prediction, y)


def train_step(model, optimizer, x, y):
    """One SGD step on one batch; returns the cost before the step, out of autograd.

    ``backward()`` adds each parameter's gradient into its ``.grad``, hence ``zero_grad()`` first.
    """
    cost = loss_fn(model, x, y)
    optimizer.zero_grad()
    cost.backward()
    optimizer.step()
    return cost.detach()


def trace_step(model, optimizer, x, y):
    """``train_step`` with its intermediates kept, for ``softmax-rosetta diverge``.

    The step is ``train_step``'s operations in its order (the logits, F.cross_entropy,
    backward(), the SGD step), so the cost and the new parameters are its bits; softmax,
    log_softmax and the two other loss levels are computed on the side from the same logits.
    Returns {name: tensor}, the names of ``softmax_rosetta.trace.QUANTITIES``.
    """
    logits = model(x)
    cost = F.cross_entropy(logits, y)
    optimizer.zero_grad()
    cost.backward()
    optimizer.step()
    z = logits.detach()
    weight, bias = weight_and_bias(model)
    return {
        "logits": z,
        "softmax": functional.softmax(z, axis=1),
        "log_softmax": functional.log_softmax(z, axis=1),
        "loss:onehot": functional.cross_entropy_onehot(z, y),
        "loss:nll": functional.cross_entropy_nll(z, y),
        "loss:fused": cost.detach(),
        "grad_weight": model.linear.weight.grad.clone(),
        "grad_bias": model.linear.bias.grad.clone(),
        "weight": weight.clone(),
        "bias": bias.clone(),
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

    x (N, D), y (N,), weight (C, D), bias (C,) are tensors on one device. ``batches(epoch)``
    lists each step's rows as index arrays (``softmax_rosetta.data.Batches``: the same rows in the same
    order in every backend, where a DataLoader would draw its own); None is full batch.
    momentum, dampening, nesterov, weight_decay: torch.optim.SGD's own.

    An epoch's cost is the mean loss over the training rows, each batch's loss taken before
    its step: sum over batches of cost_b * (B_b / N). Full batch, that is the lesson's cost.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)) as tensors; a run whose cost turns
    inf or nan stops after that epoch, and its costs end there. Checking that is the one read
    of a GPU value per epoch; the costs themselves stay on the device until the end.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    costs = torch.zeros(epochs + 1, dtype=x.dtype, device=x.device)
    for epoch in range(epochs + 1):
        for rows in batches(epoch) if batches is not None else [slice(None)]:
            xb, yb = x[rows], y[rows]
            cost = train_step(model, optimizer, xb, yb)
            costs[epoch] += cost * (len(xb) / n)  # full batch: * 1.0, exactly the cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, costs[epoch].item())
        if not torch.isfinite(costs[epoch]):  # diverged: stop here (softmax_rosetta.backend reports it)
            return costs[: epoch + 1], *weight_and_bias(model)
    return costs, *weight_and_bias(model)


def sgd_steps(param, gradients, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The optimizer alone: torch.optim.SGD on one parameter (a copy), one step per gradient; the
    parameter after them."""
    p = torch.nn.Parameter(param.clone())
    optimizer = optim.SGD(
        [p], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay
    )
    for g in gradients:
        p.grad = g.clone()
        optimizer.step()
    return p
