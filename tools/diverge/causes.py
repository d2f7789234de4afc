"""Why two runs first part: one choice of the step changed in a NumPy reference, until it gives the other run's bits.

At the first difference (first.py) every earlier quantity of the step is bit-identical in both
runs, so the differing operation had the same inputs in both. ``explain`` recomputes that
operation in NumPy, in the run's dtype, once per candidate choice (another summation order, the
bias added inside the matmul, log of softmax against log_softmax, a fused multiply-add, ...), and
names a cause only where a changed reference reproduces a run's bits exactly: every element. No
cause is named without that demonstration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StepInputs:
    """What one step starts from, the same bits in both runs (the step is their first difference)."""

    dtype: str
    step: int
    epoch: int
    x: np.ndarray  # the step's batch, (B, D), in dtype
    y: np.ndarray  # its labels, (B,), int64
    weight: np.ndarray  # the parameters before the step, (C, D) and (C,), in dtype
    bias: np.ndarray
    lr: float
    options: dict[str, Any] = field(default_factory=dict)  # momentum, dampening, nesterov, weight_decay


@dataclass(frozen=True)
class Explanation:
    quantity: str  # the first differing quantity, a name of softmax_rosetta.trace.QUANTITIES
    cause: str | None  # a short name of the demonstrated cause; None: not identified
    detail: str  # what was changed in the NumPy reference and whose bits it then gave, or what was tried
    reproduces: tuple[str, ...] = ()  # the runs whose bits a changed reference reproduced exactly


def explain(
    inputs: StepInputs, shared: dict[str, np.ndarray], quantity: str, runs: dict[str, np.ndarray]
) -> Explanation:
    """Why ``runs`` (two labels -> their values of ``quantity`` at this step) differ.

    shared: the step's quantities before ``quantity`` (in ``QUANTITIES`` order), the same in both runs.
    """
    return Explanation(quantity, None, "no candidate cause was tried for this quantity: not identified")
