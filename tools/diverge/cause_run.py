"""Two traces' first difference, explained: the step's inputs found from the spec and the traces.

from softmax_rosetta import get_backend, load_spec
from softmax_rosetta.trace import trace
spec = load_spec("seed")
a, b = (trace(get_backend(n), spec, range(3)) for n in ("torch", "jax"))
found, why = explain_first(spec, "float32", {"torch": a, "jax": b})
why.cause   # 'a contracted multiply-add (FMA) in the matmul's sums'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from softmax_rosetta.spec import Spec
from softmax_rosetta.trace import QUANTITIES, TracedStep

from .causes import Explanation, StepInputs, explain
from .first import FirstDifference, first_difference


def step_rows(spec: Spec, step: int) -> tuple[int, np.ndarray]:
    """(epoch, the rows of the training data) of step number ``step`` of the spec's run."""
    n = 0
    for epoch in range(spec.epochs + 1):
        for rows in spec.batches(epoch):
            if n == step:
                return epoch, np.arange(len(spec.y_train))[rows]
            n += 1
    raise ValueError(f"step {step} is outside the spec's run (steps 0..{n - 1})")


def step_inputs(spec: Spec, dtype: str, step: int, before: TracedStep | None) -> StepInputs:
    """What ``step`` starts from: its batch, and the parameters after the step before (``before``,
    a trace's step ``step - 1``), or the spec's initial ones at step 0."""
    dt = np.dtype(dtype)
    epoch, rows = step_rows(spec, step)
    if step == 0:
        weight, bias = np.asarray(spec.init_weight, dt), np.asarray(spec.init_bias, dt)
    elif before is None or before.step != step - 1:
        raise ValueError(f"step {step}: its inputs need the trace's step {step - 1}")
    else:
        weight, bias = np.asarray(before.values["weight"]), np.asarray(before.values["bias"])
    x = np.asarray(spec.x_train, dt)[rows]
    y = np.asarray(spec.y_train, np.int64)[rows]
    return StepInputs(dtype, step, epoch, x, y, weight, bias, float(spec.lr), dict(spec.optimizer_options))


def explain_first(
    spec: Spec, dtype: str, traces: dict[str, Sequence[TracedStep]]
) -> tuple[FirstDifference | None, Explanation | None]:
    """The first difference of two traces (labels -> steps) and its explanation; (None, None)
    when the traces agree bit for bit."""
    (la, a), (lb, b) = traces.items()
    found = first_difference(a, b)
    if found is None:
        return None, None
    steps_a = {s.step: s for s in a}
    here = steps_a[found.step]
    there = {s.step: s for s in b}[found.step]
    inputs = step_inputs(spec, dtype, found.step, steps_a.get(found.step - 1))
    shared = {q: np.asarray(here.values[q]) for q in QUANTITIES[: QUANTITIES.index(found.quantity)]}
    runs = {la: np.asarray(here.values[found.quantity]), lb: np.asarray(there.values[found.quantity])}
    return found, explain(inputs, shared, found.quantity, runs)


def machine_line(backends: Sequence[str] = ("numpy", "torch", "jax")) -> str:
    """Where bits were measured: the CPU model, its SIMD flags, how many CPUs (a BLAS may split
    its work by threads) and the frameworks' versions: another CPU, core count or BLAS build may
    pick another kernel, and with it other bits."""
    from softmax_rosetta.registry import get_backend, missing_packages

    from ..environment import machine

    m = machine()
    versions: dict[str, str] = {}
    for name in backends:
        if not missing_packages(name):
            versions.update(get_backend(name).versions())
    simd = " ".join(m.get("simd", [])) or "no SIMD flags read"
    cpu = f"{m.get('cpu') or 'unknown CPU'} ({m['machine']}, {simd}, {m['nproc']} CPUs)"
    return cpu + "; " + ", ".join(f"{k} {v}" for k, v in versions.items())
