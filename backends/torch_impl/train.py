"""The lesson's training loop in PyTorch: F.cross_entropy, backward(), optim.SGD."""

import torch
import torch.nn.functional as F
import torch.optim as optim

from .model import init_model


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None):
    """Epochs 0..epochs inclusive; each computes the cost, then takes one step.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)) as tensors. Costs are kept on
    the device and read back once at the end: ``cost.item()`` every epoch would make a GPU
    wait for each step.
    """
    model = init_model(weight, bias)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    costs = torch.empty(epochs + 1, dtype=x.dtype, device=x.device)
    for epoch in range(epochs + 1):
        prediction = model(x)
        cost = F.cross_entropy(prediction, y)
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        costs[epoch] = cost.detach()
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, cost.item())
    return costs, model.linear.weight.detach(), model.linear.bias.detach()
