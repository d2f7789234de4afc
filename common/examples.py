"""The lesson's two small examples before its classifier, with the numbers it printed.

    from softmax_rosetta.examples import lesson_examples
    softmax, cross_entropy = lesson_examples()
    cross_entropy.scores        # (3, 5): the scores of the lesson's cross-entropy example
    cross_entropy.printed_cost  # 1.8803, at each of the three levels

Read from ``common/data/lesson_examples.toml``, whose comments say where each number comes from:
the cross-entropy example's scores were drawn by an unseeded ``torch.rand(3, 5)`` and never
printed, so the file holds scores that reproduce everything the lesson printed of them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

import numpy as np

from .data import DATA_DIR

DECIMALS = 4  # the lesson's printouts: torch prints 4 decimals


@dataclass(frozen=True)
class SoftmaxExample:
    scores: np.ndarray  # (3,)
    printed: np.ndarray  # (3,): softmax(scores) as the lesson printed it


@dataclass(frozen=True)
class CrossEntropyExample:
    scores: np.ndarray  # (3, 5)
    targets: np.ndarray  # (3,) class indices
    printed_softmax: np.ndarray  # (3, 5)
    printed_log_softmax: np.ndarray  # (3, 5)
    printed_cost: float


@cache
def lesson_examples() -> tuple[SoftmaxExample, CrossEntropyExample]:
    """The lesson's softmax example and its cross-entropy example (arrays read-only, float64 and int64)."""
    with open(DATA_DIR / "lesson_examples.toml", "rb") as f:
        raw = tomllib.load(f)

    def array(value: object, dtype: type = np.float64) -> np.ndarray:
        out: np.ndarray = np.array(value, dtype=dtype)
        out.flags.writeable = False
        return out

    s, ce = raw["softmax"], raw["cross_entropy"]
    return (
        SoftmaxExample(array(s["scores"]), array(s["printed"])),
        CrossEntropyExample(
            array(ce["scores"]),
            array(ce["targets"], np.int64),
            array(ce["printed_softmax"]),
            array(ce["printed_log_softmax"]),
            float(ce["printed_cost"]),
        ),
    )
