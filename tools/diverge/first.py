"""The first difference between two traces: the first step, and in it the first quantity (in the
order the step computes them, ``softmax_rosetta.trace.QUANTITIES``), whose bits differ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from softmax_rosetta.trace import QUANTITIES, TracedStep


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable numbers of the arrays' dtype lie between a and b, element by element
    (0 where they are equal; +0 and -0 are equal; NaN against anything: the largest distance)."""
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"ulps: needs two float32 or two float64 arrays, got {a.dtype} and {b.dtype}")
    ints: type[np.signedinteger] = np.int32 if a.dtype == np.float32 else np.int64

    def ordered(x: np.ndarray) -> np.ndarray:
        i = x.view(ints).astype(np.int64)
        # negative floats count down from zero: map them so that the integers are in the floats' order
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    # the distance in integers, exactly: float64 holds 53 bits, so converting first loses float64's last ulps;
    # two's-complement wraparound in uint64 gives |ia - ib| exactly (< 2**64) without int64's overflow
    ia, ib = ordered(a), ordered(b)
    ua, ub = ia.view(np.uint64), ib.view(np.uint64)
    out = np.where(ia >= ib, ua - ub, ub - ua).astype(np.float64)
    return np.where(np.isnan(a) | np.isnan(b), np.inf, np.where(a == b, 0.0, out))


@dataclass(frozen=True)
class FirstDifference:
    step: int
    epoch: int
    quantity: str
    differing: int  # how many elements differ
    size: int  # of how many
    max_ulps: float  # the largest distance, in units in the last place of the dtype
    max_abs: float


def compare_step(a: TracedStep, b: TracedStep) -> FirstDifference | None:
    """The first quantity of one step whose bits differ between two traces, or None."""
    for q in QUANTITIES:
        x, y = np.asarray(a.values[q]), np.asarray(b.values[q])
        if x.shape != y.shape:
            raise ValueError(f"step {a.step}, {q}: shapes differ, {x.shape} and {y.shape}")
        if np.array_equal(x, y, equal_nan=True):
            continue
        distance = ulps(x, y)
        differing = int(np.count_nonzero(distance))
        with np.errstate(invalid="ignore"):
            diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
        return FirstDifference(a.step, a.epoch, q, differing, x.size, float(distance.max()), float(np.nanmax(diff)))
    return None


def first_difference(a: Sequence[TracedStep], b: Sequence[TracedStep]) -> FirstDifference | None:
    """The first step (of those both traces hold, in order) and quantity where they differ, or None."""
    steps_b = {s.step: s for s in b}
    for step in a:
        if step.step in steps_b:
            found = compare_step(step, steps_b[step.step])
            if found is not None:
                return found
    return None
