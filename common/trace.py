"""The lesson's training run, step by step, with every intermediate: what ``diverge`` compares.

    from softmax_rosetta import get_backend, load_spec
    from softmax_rosetta.trace import trace
    steps = trace(get_backend("torch"), load_spec("seed"), range(0, 50))
    steps[0].values["softmax"]          # (8, 3): the softmax of step 0's logits, as torch computed it

Each backend's ``train.py`` has ``trace_step(model, optimizer, x, y)``: its ``train_step`` (the
same operations in the same order, so the cost and the new parameters are the lesson loop's
bits) returning the step's intermediates under the names of ``QUANTITIES``; the adapter's
``traced_steps`` hook binds it to a fresh model and optimizer (``Backend.traced_steps``). A step
is one SGD step on one batch; full batch, step n is epoch n.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .backend import Backend
from .checks import BackendError
from .spec import Spec

# Every intermediate of one step, in the order the step computes them. weight and bias: after the step.
QUANTITIES: tuple[str, ...] = (
    "logits",
    "softmax",
    "log_softmax",
    "loss:onehot",
    "loss:nll",
    "loss:fused",  # the cost the loop trains with (F.cross_entropy, optax's, NumPy's fused)
    "grad_weight",  # dL/dW, (C, D) in torch's layout
    "grad_bias",
    "weight",
    "bias",
)


@dataclass(frozen=True)
class TracedStep:
    """One step's intermediates, as NumPy arrays: ``values[name]`` for each name of ``QUANTITIES``."""

    step: int  # 0, 1, ...: the SGD steps of the whole run, in order
    epoch: int
    values: dict[str, np.ndarray]


def step_count(spec: Spec) -> int:
    """How many SGD steps the spec's run takes: every batch of every epoch 0..epochs."""
    batches = spec.batches
    return sum(len(batches(epoch)) for epoch in range(spec.epochs + 1))


def trace(backend: Backend, spec: Spec, steps: Iterable[int] | None = None) -> list[TracedStep]:
    """Run the spec's ``lesson`` loop with ``backend`` and keep the intermediates of ``steps``
    (step numbers, default every one). The run goes as far as the last step asked for, and stops
    after a step whose cost is inf or nan, as the training loops do.
    """
    total = step_count(spec)
    wanted = set(range(total)) if steps is None else set(steps)
    outside = sorted(s for s in wanted if not 0 <= s < total)
    if outside:
        raise BackendError(f"steps: step {outside[0]} is outside the run's steps 0..{total - 1}")
    x, w, b = (
        backend.to_native(np.asarray(a, dtype=backend.np_dtype))
        for a in (spec.x_train, spec.init_weight, spec.init_bias)
    )
    y = backend.to_native(np.asarray(spec.y_train, dtype=np.int64))
    step_fn = backend.traced_steps(w, b, lr=spec.lr, **spec.optimizer_options)
    last = max(wanted, default=-1)
    every_row = np.arange(spec.num_samples)
    out: list[TracedStep] = []
    step = 0
    for epoch in range(spec.epochs + 1):
        for rows in spec.batches(epoch):
            if step > last:
                return out
            # every row in order (full batch): the arrays themselves, the same values as indexing them gives,
            # without a gather per step (JAX's indexing with an array costs milliseconds: 8 s of a 1001-step run)
            whole = len(rows) == len(every_row) and np.array_equal(rows, every_row)
            if whole:
                values = step_fn(x, y)
            else:  # the rows as a native array: MLX can't index with a NumPy one
                index = backend.to_native(rows)
                values = step_fn(x[index], y[index])
            if step in wanted:
                out.append(TracedStep(step, epoch, {k: backend.to_numpy(values[k]) for k in QUANTITIES}))
            if not np.isfinite(backend.to_numpy(values["loss:fused"])):
                return out
            step += 1
    return out
