"""The linear classifier in PyTorch: an nn.Module around nn.Linear, as in the lesson."""

import torch
import torch.nn as nn


class SoftmaxClassifier(nn.Module):
    """logits = x W^T + b, with nn.Linear's weight (C, D) stored (out, in), bias (C,).

    There is no backward to write: autograd records ``forward`` and ``backward()`` walks it.
    """

    def __init__(self, in_features, out_features, *, dtype=torch.float32, device=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, dtype=dtype, device=device)

    def forward(self, x):
        return self.linear(x)


def init_model(weight, bias):
    """A model that starts from the spec's parameters instead of a fresh random draw."""
    out_features, in_features = weight.shape
    model = SoftmaxClassifier(in_features, out_features, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        model.linear.weight.copy_(weight)
        model.linear.bias.copy_(bias)
    return model


def weight_and_bias(model):
    """The parameters as plain tensors, out of autograd: weight (C, D), bias (C,)."""
    return model.linear.weight.detach(), model.linear.bias.detach()


def stored_weight(model):
    """The weight as the model itself stores it: nn.Linear's (C, D)."""
    return model.linear.weight
