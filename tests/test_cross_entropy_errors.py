"""Bad arguments to the losses: one clear ValueError, the same words in every backend and dtype.

Left to the frameworks, these would go wrong in different ways: NumPy wraps a class index of
-1 to the last class, JAX returns NaN or garbage for an index out of range (it can't raise
inside jit), torch raises its own error. The checks run in ``softmax_rosetta.backend`` on the
host, before any framework sees the arrays. What torch accepts is accepted (a negative class
weight, say): ``test_good_edge_arguments_are_accepted``.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest

from softmax_rosetta import BackendError

Z = np.zeros((2, 3))
PROBS = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
LEVELS = ("onehot", "nll", "fused")


@dataclass(frozen=True)
class Bad:
    name: str
    args: tuple
    message: str
    options: dict = field(default_factory=dict)
    calls: tuple = ("cross_entropy", "nll_loss")  # cross_entropy: every level, and its gradient


ERRORS = [
    Bad(
        "class-index-minus-one",
        (Z, [0, -1]),
        "target: class index -1 at position 1 is outside [0, 3) and isn't ignore_index (-100)",
    ),
    Bad(
        "class-index-C",
        (Z, [3, 0]),
        "target: class index 3 at position 0 is outside [0, 3) and isn't ignore_index (-100)",
    ),
    Bad(
        "default-ignore-index-when-another-is-set",
        (Z, [-100, 0]),
        "target: class index -100 at position 0 is outside [0, 3) and isn't ignore_index (-1)",
        {"ignore_index": -1},
    ),
    Bad(
        "class-index-in-N-d",
        (np.zeros((2, 3, 2)), [[0, 1], [2, 3]]),
        "target: class index 3 at position (1, 1) is outside [0, 3) and isn't ignore_index (-100)",
    ),
    Bad(
        "class-index-unbatched",
        (np.zeros(3), 3),
        "target: class index 3 is outside [0, 3) and isn't ignore_index (-100)",
    ),
    Bad("target-shape", (Z, [0, 1, 2]), "target: expected shape (2,) for input of shape (2, 3), got (3,)"),
    Bad(
        "target-shape-N-d",
        (np.zeros((2, 3, 2)), [0, 1]),
        "target: expected shape (2, 2) for input of shape (2, 3, 2), got (2,)",
    ),
    Bad("target-shape-unbatched", (np.zeros(3), [1]), "target: expected shape () for input of shape (3,), got (1,)"),
    Bad(
        "integer-target-of-the-input-shape",
        (Z, np.zeros((2, 3), dtype=np.int64)),
        "target: expected shape (2,) for input of shape (2, 3), got (2, 3)",
    ),
    Bad("target-dtype-bool", (Z, [True, False]), "target: expected integer class indices, got dtype bool"),
    Bad(
        "float-target-of-another-shape",
        (Z, [0.0, 1.0]),
        "target: expected integer class indices, got dtype float64; "
        "probabilities would have the input's shape (2, 3), got (2,)",
        calls=("cross_entropy",),
    ),
    Bad(
        "negative-probability",
        (Z, [[0.5, 0.6, -0.1], [1.0, 0.0, 0.0]]),
        "target: probabilities must be finite and >= 0, got -0.1 at position (0, 2)",
        calls=("cross_entropy",),
    ),
    Bad(
        "nan-probability",
        (Z, [[0.5, 0.5, 0.0], [np.nan, 0.0, 0.0]]),
        "target: probabilities must be finite and >= 0, got nan at position (1, 0)",
        calls=("cross_entropy",),
    ),
    Bad(
        "ignore-index-with-probabilities",
        (Z, PROBS),
        "ignore_index: doesn't apply to probability targets, got 0; leave it at the default -100",
        {"ignore_index": 0},
        calls=("cross_entropy",),
    ),
    Bad(
        "probabilities-to-nll-loss",
        (Z, PROBS),
        "target: expected integer class indices, got dtype float64",
        calls=("nll_loss",),
    ),
    Bad(
        "weight-length",
        (Z, [0, 1]),
        "weight: expected one weight per class, shape (3,), got (2,)",
        {"weight": [1.0, 2.0]},
    ),
    Bad(
        "weight-nan",
        (Z, [0, 1]),
        "weight: entries must be finite, got nan for class 2",
        {"weight": [1.0, 1.0, np.nan]},
    ),
    Bad(
        "weight-inf",
        (Z, [0, 1]),
        "weight: entries must be finite, got -inf for class 0",
        {"weight": [-np.inf, 1.0, 1.0]},
    ),
    Bad("weight-2-d", (Z, [0, 1]), "weight: expected 1 dimensions, got shape (1, 3)", {"weight": [[1.0, 1.0, 1.0]]}),
    Bad(
        "weight-strings",
        (Z, [0, 1]),
        "weight: expected a real-valued array, got dtype <U1",
        {"weight": ["a", "b", "c"]},
    ),
    Bad(
        "label-smoothing-above-1",
        (Z, [0, 1]),
        "label_smoothing: must be a number in [0, 1], got 1.5",
        {"label_smoothing": 1.5},
        calls=("cross_entropy",),
    ),
    Bad(
        "label-smoothing-negative",
        (Z, [0, 1]),
        "label_smoothing: must be a number in [0, 1], got -0.1",
        {"label_smoothing": -0.1},
        calls=("cross_entropy",),
    ),
    Bad(
        "label-smoothing-nan",
        (Z, [0, 1]),
        "label_smoothing: must be a number in [0, 1], got nan",
        {"label_smoothing": float("nan")},
        calls=("cross_entropy",),
    ),
    Bad(
        "label-smoothing-string",
        (Z, [0, 1]),
        "label_smoothing: must be a number in [0, 1], got '0.1'",
        {"label_smoothing": "0.1"},
        calls=("cross_entropy",),
    ),
    Bad("ignore-index-float", (Z, [0, 1]), "ignore_index: expected an integer, got 1.5", {"ignore_index": 1.5}),
    Bad(
        "ignore-index-above-int64",
        (Z, [0, 1]),
        "ignore_index: 9223372036854775808 is outside int64, [-9223372036854775808, 9223372036854775807]",
        {"ignore_index": 2**63},
    ),
    Bad(
        "ignore-index-below-int64",
        (Z, [0, 1]),
        "ignore_index: -9223372036854775809 is outside int64, [-9223372036854775808, 9223372036854775807]",
        {"ignore_index": -(2**63) - 1},
    ),
    Bad("reduction", (Z, [0, 1]), "reduction: unknown reduction 'avg'; known: mean, sum, none", {"reduction": "avg"}),
    Bad(
        "no-classes",
        (np.zeros((2, 0)), [0, 0]),
        "logits: expected at least one class, got shape (2, 0)",
        calls=("cross_entropy",),
    ),
    Bad(
        "nll-loss-no-classes",
        (np.zeros((2, 0)), [0, 0]),
        "log_probs: expected at least one class, got shape (2, 0)",
        calls=("nll_loss",),
    ),
    Bad(
        "level-nll-with-label-smoothing",
        (Z, [0, 1]),
        "level: 'nll' can't express label_smoothing: nll_loss(log_softmax(z), y) has no term for the other "
        "classes; use level 'onehot' or 'fused'",
        {"label_smoothing": 0.1, "level": "nll"},
        calls=("level",),
    ),
    Bad(
        "level-nll-with-probabilities",
        (Z, PROBS),
        "level: 'nll' can't take probability targets: nll_loss picks one class per element; "
        "use level 'onehot' or 'fused'",
        {"level": "nll"},
        calls=("level",),
    ),
]


def _calls(be, bad):
    """Every public function the bad arguments can reach, as (what, thunk)."""
    for kind in bad.calls:
        if kind == "level":
            yield "cross_entropy", lambda: be.cross_entropy(*bad.args, **bad.options)
        if kind == "cross_entropy":
            for level in LEVELS:
                if level == "nll" and ("label_smoothing" in bad.options or np.asarray(bad.args[1]).dtype.kind == "f"):
                    continue  # level nll refuses these on its own; see the level-nll cases
                yield (
                    f"cross_entropy level={level}",
                    lambda level=level: be.cross_entropy(*bad.args, level=level, **bad.options),
                )
            yield "cross_entropy_grad", lambda: be.cross_entropy_grad(*bad.args, **bad.options)
        if kind == "nll_loss":
            yield "nll_loss", lambda: be.nll_loss(*bad.args, **bad.options)
            yield "nll_loss_grad", lambda: be.nll_loss_grad(*bad.args, **bad.options)


@pytest.mark.parametrize("bad", ERRORS, ids=lambda b: b.name)
def test_bad_arguments_raise_one_clear_error(be, bad):
    """The exact words, for every backend in float32 and float64: one message, written once."""
    for what, call in _calls(be, bad):
        with pytest.raises(BackendError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert str(info.value) == bad.message, f"{be.name} {what}"


def test_checks_run_on_the_host_before_the_framework(be, monkeypatch):
    """A bad target is refused before any array is handed to the framework."""

    def framework(_):
        raise AssertionError("the framework was reached")

    monkeypatch.setattr(be, "to_native", framework)
    with pytest.raises(BackendError, match="class index -1"):
        be.cross_entropy(Z, [0, -1])
    with pytest.raises(BackendError, match="entries must be finite"):
        be.cross_entropy(Z, [0, 1], weight=[1.0, np.nan, 1.0])
    with pytest.raises(AssertionError, match="the framework was reached"):
        be.cross_entropy(Z, [0, 1])  # good arguments get there


@pytest.mark.slow
def test_good_edge_arguments_are_accepted(be):
    """What is allowed although it looks odd: torch allows it too."""
    assert np.isnan(be.cross_entropy(Z, [-100, -100]))  # every target ignored
    assert be.cross_entropy(Z, [-1, 2], ignore_index=-1).shape == ()  # -1 ignored, not wrapped
    assert be.cross_entropy(Z, [0, 1], weight=[0.0, 1.0, 1.0]).shape == ()  # a zero weight
    assert be.cross_entropy(Z, [0, 1], weight=[1.0, -0.1, 1.0]).shape == ()  # a negative weight
    assert be.cross_entropy(Z, [0, 1], ignore_index=2**63 - 1).shape == ()  # int64's largest
    assert be.cross_entropy(Z, PROBS, ignore_index=-5).shape == ()  # a negative ignore_index with probabilities
    assert be.cross_entropy(Z, [0, 1], label_smoothing=1).shape == ()  # an int in [0, 1]
    assert be.cross_entropy(Z, np.array([0, 1], dtype=np.uint8)).shape == ()  # any integer dtype
    assert be.cross_entropy(Z, [[0.0, 2.0, 0.0], [0.5, 0.5, 0.5]]).shape == ()  # rows may sum to any
