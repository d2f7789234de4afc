"""The lesson's training loop in PyTorch: F.cross_entropy, backward(), optim.SGD."""

import torch
import torch.nn.functional as F
import torch.optim as optim

from .model import init_model


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
          momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
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
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum, dampening=dampening,
                          nesterov=nesterov, weight_decay=weight_decay)
    costs = torch.zeros(epochs + 1, dtype=x.dtype, device=x.device)
    for epoch in range(epochs + 1):
        for rows in (batches(epoch) if batches is not None else [slice(None)]):
            prediction = model(x[rows])
            cost = F.cross_entropy(prediction, y[rows])
            optimizer.zero_grad()
            cost.backward()
            optimizer.step()
            costs[epoch] += cost.detach() * (len(prediction) / n)  # full batch: * 1.0, exactly the cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, costs[epoch].item())
        if not torch.isfinite(costs[epoch]):  # diverged: stop here (softmax_rosetta.backend reports it)
            return costs[:epoch + 1], model.linear.weight.detach(), model.linear.bias.detach()
    return costs, model.linear.weight.detach(), model.linear.bias.detach()
