"""What a training run returns, and the error a diverged run raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TrainResult:
    """One training run.

    costs: (epochs + 1,) each epoch's cost: the mean loss over the training rows, each batch's
           loss computed before that batch's step (full batch: the cost before the epoch's step).
    weight: (C, D) final weight, stored (out, in) as torch stores it.  bias: (C,).
    accuracy: fraction of the training samples whose largest logit is their label.
    test_accuracy: the same on the spec's test split; None when the spec has none.
    diverged_at: the epoch whose cost was first inf or nan (the run stopped there), else None.
    settings: the framework versions and precision settings the run used.
    """

    backend: str
    variant: str
    dtype: str
    device: str
    spec: str
    lr: float
    epochs: int
    costs: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    accuracy: float
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    test_accuracy: float | None = None
    diverged_at: int | None = None
    workers: int = 1  # data-parallel workers (docs/distributed.md); 1: one process, one device

    @property
    def label(self) -> str:
        """The run's name in reports: "torch", "jax:fused" for a variant other than the lesson's,
        "jax:x2" for the lesson on 2 data-parallel workers."""
        name = self.backend if self.variant == "lesson" else f"{self.backend}:{self.variant}"
        return name if self.workers == 1 else f"{name}:x{self.workers}"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists for arrays), for JSON; ``from_dict`` reads it back exactly."""
        return {
            "backend": self.backend,
            "variant": self.variant,
            "dtype": self.dtype,
            "device": self.device,
            "spec": self.spec,
            "lr": self.lr,
            "epochs": self.epochs,
            "costs": self.costs.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
            "accuracy": self.accuracy,
            "test_accuracy": self.test_accuracy,
            "seconds": self.seconds,
            "settings": self.settings,
            "diverged_at": self.diverged_at,
            "workers": self.workers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        dtype = data["dtype"]
        arrays = {k: np.asarray(data[k], dtype=dtype) for k in ("costs", "weight", "bias")}
        return cls(**{**data, **arrays})


class TrainingDiverged(ArithmeticError):
    """A run's cost turned inf or nan; training stopped after that epoch.

    ``result`` is the run up to there (``result.costs`` ends with the first non-finite cost,
    ``result.diverged_at`` is its epoch), for a report that marks the run rather than
    comparing NaNs.
    """

    def __init__(self, result: TrainResult):
        self.result = result
        cost = float(result.costs[-1])
        if result.diverged_at == 0:  # before any step: the lr can't be the cause
            hint = (
                f"the initial model's cost is already {cost} in {result.dtype}, before any step: the logits "
                f"of the data and the initial parameters overflow; try float64 or smaller inputs."
            )
            super().__init__(f"{result.label} can't start training: {hint}")
            return
        super().__init__(
            f"{result.label} diverged at epoch {result.diverged_at}: cost {cost} "
            f"({result.dtype}, lr {result.lr}); training stopped there. Try a smaller --lr."
        )
