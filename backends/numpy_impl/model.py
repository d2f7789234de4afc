"""The linear classifier in NumPy: a small class holding weight and bias, forward and backward by hand."""

import numpy as np


class SoftmaxClassifier:
    """logits = x W^T + b, with weight (C, D) stored (out, in) as torch's nn.Linear stores it, bias (C,).

    NumPy has no modules and no autograd: the parameters are two arrays, and ``backward`` is
    the chain rule through the layer, written out. The arrays start at zero; ``init_model``
    fills in the spec's parameters, as the other backends overwrite their random draws.
    """

    def __init__(self, in_features, out_features, *, dtype=np.float32):
        self.weight = np.zeros((out_features, in_features), dtype=dtype)
        self.bias = np.zeros(out_features, dtype=dtype)

    def __call__(self, x):
        """``model(x)``, as torch's nn.Module calls ``forward``."""
        return self.forward(x)

    def forward(self, x):
        """logits = x W^T + b: (N, D) @ (D, C) + (C,) -> (N, C)."""
        return x @ self.weight.T + self.bias

    def backward(self, x, dz):
        """The parameters' gradients from dL/dz (N, C), the gradient of the loss at the logits:

        dL/dW = (dL/dz)^T x                       (C, D)
        dL/db = sum over rows of dL/dz            (C,)

        Returns them as a dict keyed like ``parameters()``.
        """
        return {"weight": dz.T @ x, "bias": dz.sum(axis=0)}

    def parameters(self):
        """The parameters by name: the model's own arrays, which an optimizer updates in place."""
        return {"weight": self.weight, "bias": self.bias}


def init_model(weight, bias):
    """A model that starts from the spec's parameters: weight (C, D), bias (C,), copied."""
    out_features, in_features = weight.shape
    model = SoftmaxClassifier(in_features, out_features, dtype=weight.dtype)
    model.weight[...] = weight
    model.bias[...] = bias
    return model


def weight_and_bias(model):
    """The parameters in torch's layout: weight (C, D), bias (C,)."""
    return model.weight, model.bias


def stored_weight(model):
    """The weight as the model itself stores it: (C, D), torch's layout."""
    return model.weight
