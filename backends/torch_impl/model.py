"""The linear classifier in PyTorch: an nn.Module around nn.Linear, as in the lesson."""

import torch
import torch.nn as nn


class SoftmaxClassifierModel(nn.Module):
    """logits = x W^T + b, with nn.Linear's weight (C, D) stored (out, in)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x)


def init_model(weight, bias):
    """A model that starts from the spec's parameters instead of a fresh random draw."""
    out_features, in_features = weight.shape
    model = SoftmaxClassifierModel(in_features, out_features).to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        model.linear.weight.copy_(weight)
        model.linear.bias.copy_(bias)
    return model
