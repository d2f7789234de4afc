"""The linear classifier in MLX: an nn.Module around mlx.nn.Linear."""

import mlx.nn as nn


class SoftmaxClassifier(nn.Module):
    """logits = x W^T + b. mlx.nn.Linear stores its weight (out, in), (C, D), as torch does.

    There is no backward to write: ``nn.value_and_grad(model, fn)`` differentiates any function
    of the model with respect to its trainable parameters. nn.Linear draws its initial weight
    in float32 (it takes no dtype); ``init_model`` replaces both parameters.
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def __call__(self, x):
        return self.linear(x)


def init_model(weight, bias):
    """A model that starts from the spec's parameters: weight (C, D) is already Linear's layout."""
    out_features, in_features = weight.shape
    model = SoftmaxClassifier(in_features, out_features)
    model.linear.weight = weight  # the module's parameters are these arrays, in their dtype
    model.linear.bias = bias
    return model


def weight_and_bias(model):
    """The parameters: weight (C, D), bias (C,), as torch stores them (no transpose: Linear's own layout)."""
    return model.linear.weight, model.linear.bias


def stored_weight(model):
    """The weight as the model itself stores it: mlx.nn.Linear's (C, D), torch's layout."""
    return model.linear.weight
