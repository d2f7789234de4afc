"""Two traces of one run compared: the first difference and its cause, where a difference first leaves
the rounding envelope, and how the difference grows step by step.

The envelope (``softmax_rosetta.tolerances``: Monte Carlo arithmetic) says how far two correct
implementations may differ through rounding alone. It is derived for the agreement report's checks,
so only some of a step's quantities have one, and only the cost's is per epoch:

- ``loss:onehot``, ``loss:nll``, ``loss:fused``: full batch, a step's loss is its epoch's cost, held to
  ``Envelope.costs[epoch]`` (the widest of the three loss levels at that epoch, the parameters' drift
  included); in mini-batches a step's loss is its batch's mean, not the epoch's cost (a sum of the
  batches' shares, whose rounding is smaller), so it is held to its own envelope,
  ``Envelope.step_losses[step]``, derived now (the spec stores per-epoch envelopes only);
- ``softmax``, ``log_softmax``: the forward envelope, at step 0 only. It is derived for one forward
  pass from the same parameters, which two runs share at step 0 alone: later, their parameters have
  drifted apart too, which it does not foresee (numpy against torch on the seed spec in float32
  goes over it by up to 4.7 times at later steps, log_softmax at step 996, while every cost and
  parameter stays well inside);
- ``weight``, ``bias``: the final parameters' envelope, at every step (derived for the last step;
  earlier ones have had fewer steps to drift);
- ``logits``, ``grad_weight``, ``grad_bias``: none (shown, not checked).

An unchecked quantity or step has an envelope of ``inf``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from softmax_rosetta.envelopes import stored as current_table
from softmax_rosetta.spec import Spec
from softmax_rosetta.trace import QUANTITIES, TracedStep

from .causes import Explanation, StepInputs, explain
from .first import FirstDifference, first_difference, ulps
from .sources import Trace
from .tracefile import step_rows

LOSSES = ("loss:onehot", "loss:nll", "loss:fused")
FORWARD = ("softmax", "log_softmax")
PARAMS = ("weight", "bias")
CHECKED = FORWARD + LOSSES + PARAMS


@dataclass(frozen=True)
class EnvelopeView:
    """The envelope as diverge reads it: where it came from, and per quantity and epoch its value."""

    source: str
    forward: dict[str, float]
    costs: np.ndarray  # (epochs + 1,)
    params: float
    step_losses: np.ndarray | None = None  # (steps,) each step's batch loss envelope; None: full batch (the costs)

    def at(self, quantity: str, steps: np.ndarray, epochs: np.ndarray) -> np.ndarray | None:
        """(steps,) the quantity's envelope at each step (inf: not checked there); None: it has none."""
        if quantity in LOSSES:
            return self.costs[epochs] if self.step_losses is None else self.step_losses[steps]
        if quantity in FORWARD:
            return np.where(steps == 0, self.forward[quantity], np.inf)
        if quantity in PARAMS:
            return np.full(len(epochs), self.params)
        return None


def envelope_for(spec: Spec, dtype: str) -> EnvelopeView:
    """The spec's stored ``[tolerance.derived.DTYPE]`` when it is current and the spec trains full batch, else
    derived now (a few seconds): in mini-batches each step's loss needs its own envelope, which specs don't store."""
    stored, _ = current_table(spec, dtype)  # None where absent, or stale (the spec edited since)
    full_batch = all(len(spec.batches(e)) == 1 for e in range(spec.epochs + 1))
    if stored is not None and full_batch:
        return EnvelopeView(
            f"the spec's [tolerance.derived.{dtype}] ({stored.samples} perturbed runs, seed {stored.seed}, "
            f"safety factor {stored.safety:g})",
            dict(stored.forward),
            stored.cost_per_epoch(),
            stored.params,
        )
    from softmax_rosetta.tolerances import derive

    env = derive(spec, dtype)
    return EnvelopeView(
        f"derived now ({env.samples} perturbed runs, seed {env.seed}, safety factor {env.safety:g})"
        + ("" if full_batch else "; each mini-batch step's loss has an envelope of its own, which specs don't store"),
        dict(env.forward),
        env.costs,
        env.params,
        None if full_batch else np.array(env.step_losses),
    )


@dataclass(frozen=True)
class Leaving:
    """The first step and quantity whose difference is over its envelope."""

    step: int
    epoch: int
    quantity: str
    max_abs: float
    envelope: float


@dataclass
class Divergence:
    a: str
    b: str
    spec: str
    dtype: str
    steps: np.ndarray  # (S,) the compared steps
    epochs: np.ndarray  # (S,) their epochs
    envelope: EnvelopeView
    first: FirstDifference | None
    explanation: Explanation | None
    note: str  # what the first difference's position means, or why its cause was not examined
    leaves: Leaving | None
    max_abs: dict[str, np.ndarray] = field(default_factory=dict)  # quantity -> (S,) largest |a - b| per step
    max_ulps: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, np.ndarray] = field(default_factory=dict)  # checked quantity -> (S,) its envelope

    @property
    def identical(self) -> bool:
        return self.first is None

    def ratio(self) -> np.ndarray:
        """(S,) the largest difference over envelope of the checked quantities, at each step."""
        return np.max([self.max_abs[q] / self.bounds[q] for q in self.bounds], axis=0)

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio()
        worst = int(np.argmax(ratio))
        return {
            "a": self.a,
            "b": self.b,
            "spec": self.spec,
            "dtype": self.dtype,
            "steps": {"count": len(self.steps), "first": int(self.steps[0]), "last": int(self.steps[-1])},
            "identical": self.identical,
            "first_difference": None if self.first is None else asdict(self.first),
            "cause": None if self.explanation is None else asdict(self.explanation),
            "note": self.note,
            "envelope": {
                "source": self.envelope.source,
                "forward": self.envelope.forward,
                "params": self.envelope.params,
                "checked": list(CHECKED),
            },
            "leaves_envelope": None if self.leaves is None else asdict(self.leaves),
            "largest_ratio": {"ratio": _num(ratio[worst]), "step": int(self.steps[worst])},
            "series": {
                "step": self.steps.tolist(),
                "epoch": self.epochs.tolist(),
                "max_abs": {q: [_num(v) for v in a] for q, a in self.max_abs.items()},
                "max_ulps": {q: [_num(v) for v in a] for q, a in self.max_ulps.items()},
                "envelope": {q: [None if v == np.inf else _num(v) for v in a] for q, a in self.bounds.items()},
            },
        }


def _num(v: Any) -> float | str:
    """A float for JSON: inf and nan as strings (JSON has neither)."""
    v = float(v)
    return v if np.isfinite(v) else str(v)


def distances(a: list[TracedStep], b: list[TracedStep], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """(S,) the largest |a - b| and the largest distance in ulps of ``quantity`` at each step, at once for
    the steps whose arrays have one shape (mini-batches: the last batch of an epoch may be shorter)."""
    n = len(a)
    out_abs, out_ulps = np.zeros(n), np.zeros(n)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, s in enumerate(a):
        groups.setdefault(s.values[quantity].shape, []).append(i)
    for shape, idx in groups.items():
        x = np.stack([a[i].values[quantity] for i in idx]).reshape(len(idx), -1)
        y = np.stack([b[i].values[quantity] for i in idx]).reshape(len(idx), -1)
        if y.shape[1:] != x.shape[1:]:
            raise ValueError(f"{quantity}: shapes differ, {shape} and {b[idx[0]].values[quantity].shape}")
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(same, 0.0, np.abs(x.astype(np.float64) - y.astype(np.float64)))
        diff = np.where(np.isnan(diff), np.inf, diff)
        out_abs[idx] = diff.max(axis=1) if x.shape[1] else 0.0
        out_ulps[idx] = np.where(same, 0.0, ulps(x, y)).max(axis=1) if x.shape[1] else 0.0
    return out_abs, out_ulps


def diverge(a: Trace, b: Trace, spec: Spec, dtype: str, envelope: EnvelopeView) -> Divergence:
    """Compare two traces of ``spec``'s run on the steps both hold (the same steps, by construction)."""
    held = {s.step for s in b.steps}
    sa = [s for s in a.steps if s.step in held]
    by_step = {s.step: s for s in b.steps}
    sb = [by_step[s.step] for s in sa]
    steps = np.array([s.step for s in sa], dtype=np.int64)
    epochs = np.array([s.epoch for s in sa], dtype=np.int64)
    result = Divergence(a.label, b.label, spec.name, dtype, steps, epochs, envelope, None, None, "", None)
    for q in QUANTITIES:
        result.max_abs[q], result.max_ulps[q] = distances(sa, sb, q)
        bound = envelope.at(q, steps, epochs)
        if bound is not None:
            result.bounds[q] = bound
    result.first = first_difference(sa, sb)
    if result.first is not None:
        result.explanation, result.note = _explain(result.first, sa, sb, spec, dtype, a.label, b.label)
    result.leaves = _first_leaving(result)
    return result


def _first_leaving(r: Divergence) -> Leaving | None:
    over = {q: r.max_abs[q] > r.bounds[q] for q in r.bounds}  # inf (a NaN on one side only) is over
    anywhere = np.any(list(over.values()), axis=0)
    if not anywhere.any():
        return None
    i = int(np.argmax(anywhere))
    q = next(q for q in QUANTITIES if q in over and over[q][i])
    return Leaving(int(r.steps[i]), int(r.epochs[i]), q, float(r.max_abs[q][i]), float(r.bounds[q][i]))


def _explain(
    first: FirstDifference, sa: list[TracedStep], sb: list[TracedStep], spec: Spec, dtype: str, la: str, lb: str
) -> tuple[Explanation | None, str]:
    """causes.explain at the first difference, when the step's inputs are known; else why not."""
    steps = [s.step for s in sa]
    i = steps.index(first.step)
    note = "" if steps[0] == 0 else f"the first among the compared steps: steps before {steps[0]} were not compared"
    if first.step == 0:
        weight, bias = spec.init_weight, spec.init_bias
    elif i > 0 and steps[i - 1] == first.step - 1:  # the step before, bit-identical in both runs
        weight, bias = sa[i - 1].values["weight"], sa[i - 1].values["bias"]
    else:
        why = f"step {first.step - 1} was not compared, so the parameters step {first.step} starts from are unknown"
        return None, "; ".join(n for n in (note, f"cause not examined: {why}") if n)
    epoch, rows = step_rows(spec)[first.step]
    np_dtype = np.dtype(dtype)
    inputs = StepInputs(
        dtype=dtype,
        step=first.step,
        epoch=epoch,
        x=np.asarray(spec.x_train, dtype=np_dtype)[rows],
        y=np.asarray(spec.y_train, dtype=np.int64)[rows],
        weight=np.asarray(weight, dtype=np_dtype),
        bias=np.asarray(bias, dtype=np_dtype),
        lr=spec.lr,
        options=spec.optimizer_options,
    )
    k = QUANTITIES.index(first.quantity)
    shared = {q: sa[i].values[q] for q in QUANTITIES[:k]}
    runs = {la: sa[i].values[first.quantity], lb: sb[i].values[first.quantity]}
    return explain(inputs, shared, first.quantity, runs), note
