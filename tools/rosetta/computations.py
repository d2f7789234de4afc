"""What the concept table's numbers compute beyond one call of a backend: the option rows'
arguments, SGD on the bias, the model, in each backend, through the backends' public functions."""

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


def sgd_bias(momentum: float | None) -> Compute:
    """Each backend's SGD (train.py's ``sgd_steps``: the spec's lr and options; momentum as given,
    None: the spec's) on the initial bias, 3 steps with the gradient [0.5, -0.25, 0.125]."""

    def compute(c: Context) -> Any:
        options = {**c.spec.optimizer_options, "momentum": c.spec.momentum if momentum is None else momentum}
        g0 = c.native(np.array([0.5, -0.25, 0.125], dtype=c.dtype))
        return c.module("train").sgd_steps(c.native(c.spec.init_bias), [g0] * 3, c.spec.lr, **options)

    return compute


# --- the model ----------------------------------------------------------------------------------


def _model(c: Context) -> Any:
    """The backend's SoftmaxClassifier, started from the spec's parameters."""
    return c.module("model").init_model(c.w, c.b)


def model_logits(c: Context) -> Any:
    """Row 0 of model(x): the same call in every backend."""
    return _model(c)(c.x)[0]


def stored_weight(c: Context) -> Any:
    """The shape of the weight as each model stores it (model.py's ``stored_weight``): (out, in) in
    NumPy and torch, Flax's kernel (in, out). Not weight_and_bias(model), which gives torch's layout
    in every backend."""
    return tuple(c.module("model").stored_weight(_model(c)).shape)


STORED_WEIGHT: Compute = stored_weight  # the name concepts.py used when this was a table by backend
