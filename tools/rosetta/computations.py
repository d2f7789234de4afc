"""What the concept table's numbers compute beyond one call of a backend: the option rows'
arguments, SGD on the bias, the model, in each backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softmax_rosetta.spec import Spec

from .context import Context

# A computation of one number (or row of numbers) on one backend.
Compute = Callable[[Context], Any]

# Arguments shared by the option rows: a weight per class, targets with two rows ignored, and
# probability targets (0.7 on the label and 0.1 on each class).
CLASS_WEIGHT = (0.2, 0.3, 0.5)
IGNORED_ROWS = (0, 3)
IGNORE_INDEX = -100
SMOOTHING = 0.1


def ignored_target(c: Context) -> Any:
    """The spec's labels with the rows IGNORED_ROWS set to IGNORE_INDEX."""
    t = np.array(c.spec.y_train, dtype=np.int64)
    t[list(IGNORED_ROWS)] = IGNORE_INDEX
    return c.native(t)


def soft_target(c: Context) -> Any:
    """Probability targets: 0.7 on the label and 0.1 on every class."""
    y = np.asarray(c.spec.y_train)
    q = 0.7 * np.eye(c.spec.num_classes)[y] + 0.1
    return c.native(q.astype(c.dtype))


def cost_epochs(spec: Spec) -> list[int]:
    """The epochs whose costs the loop's row shows: the first, the middle, the last."""
    return sorted({0, spec.epochs // 2, spec.epochs})


# --- SGD on the bias: 3 steps with a fixed gradient ---------------------------------------------


def _sgd_setup(c: Context, momentum: float) -> tuple[float, np.ndarray, dict[str, Any]]:
    """The spec's lr, the fixed gradient, and the spec's SGD options with ``momentum``."""
    options = {**c.spec.optimizer_options, "momentum": momentum}
    return c.spec.lr, np.array([0.5, -0.25, 0.125], dtype=c.dtype), options


def _sgd_bias_numpy(c: Context, momentum: float) -> Any:
    lr, g0, options = _sgd_setup(c, momentum)
    params = {"bias": np.array(c.spec.init_bias, dtype=c.dtype)}
    optimizer = c.module("train").SGD(params, c.dtype.type(lr), **options)
    for _ in range(3):
        optimizer.step({"bias": g0})
    return params["bias"]


def _sgd_bias_torch(c: Context, momentum: float) -> Any:
    import torch

    lr, g0, options = _sgd_setup(c, momentum)
    p = torch.nn.Parameter(c.native(c.spec.init_bias))
    opt = torch.optim.SGD([p], lr=lr, **options)
    for _ in range(3):
        p.grad = c.native(g0)
        opt.step()
    return p


def _sgd_bias_jax(c: Context, momentum: float) -> Any:
    import optax

    lr, g0, options = _sgd_setup(c, momentum)
    p, tx = c.native(c.spec.init_bias), c.module("train").sgd(lr, **options)
    state = tx.init(p)
    for _ in range(3):
        updates, state = tx.update(c.native(g0), state, p)
        p = optax.apply_updates(p, updates)
    return p


_SGD_BIAS: dict[str, Callable[[Context, float], Any]] = {
    "numpy": _sgd_bias_numpy,
    "torch": _sgd_bias_torch,
    "jax": _sgd_bias_jax,
}


def sgd_bias(momentum: float | None) -> dict[str, Compute]:
    """Each backend's SGD (the spec's lr; momentum as given, None: the spec's) on the initial bias,
    3 steps with the gradient [0.5, -0.25, 0.125]."""

    def compute(step: Callable[[Context, float], Any]) -> Compute:
        return lambda c: step(c, c.spec.momentum if momentum is None else momentum)

    return {name: compute(step) for name, step in _SGD_BIAS.items()}


# --- the model ----------------------------------------------------------------------------------


def _model(c: Context) -> Any:
    """The backend's SoftmaxClassifier, started from the spec's parameters."""
    return c.module("model").init_model(c.w, c.b)


def model_logits(c: Context) -> Any:
    """Row 0 of model(x): the same call in every backend."""
    return _model(c)(c.x)[0]


# The shape of the weight as each model stores it: (out, in) in NumPy and torch, Flax's kernel
# (in, out). Not weight_and_bias(model), which gives torch's layout in every backend.
STORED_WEIGHT: dict[str, Compute] = {
    "numpy": lambda c: tuple(_model(c).weight.shape),
    "torch": lambda c: tuple(_model(c).linear.weight.shape),
    "jax": lambda c: tuple(_model(c).linear.kernel.shape),
}
