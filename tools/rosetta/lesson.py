"""The lesson's steps: the text of each, and which concepts of the table it shows.

docs/lesson.md (``lesson_markdown.py``) and the notebooks (``notebooks.py``) are made from these
steps: the step's text, the code of its concepts as the concept table names it (concepts.py) and
their numbers, so both follow the code as docs/rosetta.md does. A step's text may name the spec's
values as ``{lr}``, ``{epochs}``, ``{every}``, ``{first_cost}`` and ``{last_cost}`` (``facts``).

``numbers``: rows the lesson shows beyond its concepts' (the lesson's own first example);
``printout``: the step ends with the lesson's printed costs next to each backend's;
``leave_out``: pieces of code its concepts name that go beyond the lesson (rosetta.md shows them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from softmax_rosetta.spec import Spec

from .base import DTYPE, ORDER, RosettaError
from .concepts import Numbers, concepts
from .context import Context
from .extract import Block
from .run import Rosetta, Row, Section

# Where the lesson comes from, in one sentence (the README's "The lesson" says the same).
SOURCE = (
    "The lesson comes from study notes, written in Korean, for the PyTorch pre-course of Boostcamp AI Tech "
    "(2021); this project retells it in its own words and code."
)
LESSON_FILE = "tools/rosetta/lesson.py"


@dataclass(frozen=True)
class Step:
    """One step of the lesson."""

    key: str  # the step's name: the notebooks' cell ids
    title: str
    text: Sequence[str]  # paragraphs, in the project's words
    concepts: Sequence[str] = ()  # keys of the concept table, shown in this order
    numbers: Sequence[Numbers] = ()  # the lesson's own rows, shown before the concepts' rows
    printout: bool = False  # ends with the lesson's printed costs and each backend's
    leave_out: Sequence[str] = ()  # blocks of its concepts not shown here, by name (docs/rosetta.md has them)


def _softmax_123(c: Context) -> np.ndarray:
    return c.call("functional:softmax", c.native(np.array([1.0, 2.0, 3.0])), axis=0)


STEPS: list[Step] = [
    Step(
        "data",
        "The data",
        [
            "Eight samples of four features each, and for each sample its class: 0, 1 or 2. The numbers "
            "mean nothing in particular; the set is small enough to read whole and to check by hand. "
            "Every backend gets the same arrays, read from the spec file `common/specs/seed.toml`: the "
            "features as float32, the classes as integers. Each framework has its own array type, made "
            "the same way: `np.asarray(x, dtype=np.float32)`, `torch.tensor(x, dtype=torch.float32)`, "
            "`jnp.asarray(x, dtype=jnp.float32)`.",
            "The model's starting point is data as well. The lesson calls `torch.manual_seed(1)` and then "
            "builds `nn.Linear(4, 3)`, which draws a 3 x 4 weight and 3 biases at random. The spec writes "
            "down exactly what torch draws, so NumPy and JAX start from the same values without torch's "
            "random number generator.",
        ],
    ),
    Step(
        "softmax",
        "Softmax, by hand and by the library",
        [
            "A classifier gives each class a score, any real number; the scores of one sample are its "
            "logits, z. Softmax turns them into probabilities: take the exponential of each score and "
            "divide by their sum. Each result is positive, a row sums to 1, the largest score gets the "
            "largest share, and adding the same number to every score changes nothing.",
            "The lesson first writes it by hand on the scores `[1, 2, 3]`, as `exp(z) / exp(z).sum()`, "
            "then calls the library's softmax and gets the same three probabilities. Of the backends, "
            "NumPy's softmax is the one by hand (it subtracts the row's largest score first, which changes "
            "nothing but keeps `exp` from overflowing); PyTorch and JAX call their library's. Then the "
            "same softmax on z, the scores the untrained model gives the eight samples.",
        ],
        concepts=["softmax"],
        numbers=[Numbers("softmax([1, 2, 3])", "output", _softmax_123)],
    ),
    Step(
        "loss-onehot",
        "Cross-entropy, level 1: one-hot targets times minus log softmax",
        [
            "To learn, the model needs one number that says how wrong it is: the loss. Cross-entropy takes, "
            "for each sample, minus the log of the probability the model gives the right class (near 0 when "
            "it is sure and right, large when it is sure and wrong) and averages that over the samples.",
            "The lesson first writes it out in full. The classes become one-hot rows (class 2 of 3 is "
            "`[0, 0, 1]`), which multiply minus the log of the softmax; summing each row keeps only the "
            "right class's term, and the mean over the rows is the loss.",
        ],
        concepts=["one-hot", "loss-onehot"],
    ),
    Step(
        "loss-nll",
        "Cross-entropy, level 2: log_softmax, then nll_loss",
        [
            "Two things in level 1 are wasteful. The log of a softmax, taken in two steps, can fail: a "
            "probability too small for float32 becomes 0, and its log minus infinity. `log_softmax` gives "
            "the same values in one step, as `z - logsumexp(z)`, and never takes the log of 0. And "
            "multiplying by a one-hot row only to pick one entry of each row does work for nothing: "
            "`nll_loss` (the negative log-likelihood) picks each row's log-probability of its class and "
            "averages minus those.",
            "The means are level 1's, to float32 rounding.",
        ],
        concepts=["log-softmax", "loss-nll"],
    ),
    Step(
        "loss-fused",
        "Cross-entropy, level 3: one call",
        [
            "Last, the library does both at once: `F.cross_entropy(z, y)` takes the logits and the class "
            "indices, and is the form to use in practice. Its numbers are those of levels 1 and 2: three "
            "ways to write one loss.",
        ],
        concepts=["loss-fused"],
    ),
    Step(
        "model",
        "The model: one linear layer",
        [
            "The classifier is one linear layer: each class's score is a weighted sum of the four features "
            "plus a bias, `z = x W^T + b`, with W of shape 3 x 4 (a row per class) and b of length 3. The "
            "lesson wraps PyTorch's `nn.Linear(4, 3)` in a small `nn.Module`; Flax has `nnx.Linear`; "
            "NumPy keeps two arrays and writes the layer's forward and backward passes itself.",
            "The model starts from the spec's parameters, so its logits are the z of the steps above.",
        ],
        concepts=["model"],
    ),
    Step(
        "sgd",
        "SGD: one step downhill",
        [
            "Training moves W and b so that the loss gets smaller. The gradient of the loss says, for each "
            "parameter, which way is uphill; stochastic gradient descent (SGD) takes a small step the other "
            "way, `p <- p - lr * gradient`, with the learning rate lr = {lr}. The lesson feeds the whole "
            "data set to every step, so nothing here is random: it is plain gradient descent, through "
            "torch's `optim.SGD`. (Its other options, momentum, dampening, Nesterov and weight decay, are "
            "written in every backend as well: docs/rosetta.md shows them.)",
            "One step computes the logits, the loss and its gradients, then updates the parameters. "
            "PyTorch and JAX differentiate the loss automatically; NumPy writes the gradient out, which "
            "for softmax with cross-entropy is short: `(softmax(z) - one_hot(y)) / N` at the logits, "
            "then the chain rule through the layer.",
        ],
        concepts=["optimizer", "step"],
        leave_out=["DampenedTraceState", "dampened_trace"],
    ),
    Step(
        "loop",
        "The loop and its printout",
        [
            "Training repeats that step: for epochs 0 to {epochs}, compute the cost, take one step, and "
            "every {every} epochs print the cost. The cost falls from {first_cost} to {last_cost}, and all "
            "eight samples end up in their class.",
            "Those printed costs are this project's test: each backend must reproduce the lesson's "
            "printout within the seed spec's tolerance.",
        ],
        concepts=["loop"],
        printout=True,
    ),
]


def facts(spec: Spec) -> dict[str, str]:
    """The spec's values a step's text may name."""
    return {
        "lr": f"{spec.lr:g}",
        "epochs": str(spec.epochs),
        "every": str(spec.expected_every),
        "first_cost": f"{spec.expected_costs[0]:.3g}" if spec.expected_costs else "?",
        "last_cost": f"{spec.expected_costs[-1]:.3g}" if spec.expected_costs else "?",
    }


def paragraphs(step: Step, spec: Spec) -> list[str]:
    """The step's text with the spec's values filled in."""
    return [p.format(**facts(spec)) for p in step.text]


def step_sections(rosetta: Rosetta, step: Step) -> list[Section]:
    """The sections of the step's concepts, in the step's order (an unknown key is an error)."""
    by_key = {s.concept.key: s for s in rosetta.sections}
    missing = [k for k in step.concepts if k not in by_key]
    if missing:
        known = ", ".join(c.key for c in concepts())
        raise RosettaError(
            f"rosetta: lesson step {step.key!r} shows {', '.join(map(repr, missing))}, which the concept table "
            f"doesn't have (known: {known}; the steps are in {LESSON_FILE})"
        )
    return [by_key[k] for k in step.concepts]


def step_blocks(rosetta: Rosetta, step: Step) -> dict[str, list[Block]]:
    """Each backend's code for the step: its concepts' blocks in order, less ``leave_out``."""
    blocks = {b: [block for s in step_sections(rosetta, step) for block in s.blocks[b]] for b in ORDER}
    names = {block.name for bs in blocks.values() for block in bs}
    unknown = [name for name in step.leave_out if name not in names]
    if unknown:
        raise RosettaError(
            f"rosetta: lesson step {step.key!r} leaves out {', '.join(map(repr, unknown))}, which none of its "
            f"concepts shows ({LESSON_FILE})"
        )
    return {b: [block for block in bs if block.name not in step.leave_out] for b, bs in blocks.items()}


def check_steps(steps: Sequence[Step] = STEPS) -> None:
    """Every step has a key of its own and text."""
    keys = [s.key for s in steps]
    if len(set(keys)) != len(keys):
        raise RosettaError(f"rosetta: two lesson steps share a key: {keys} ({LESSON_FILE})")
    for s in steps:
        if not s.text or not all(p.strip() for p in s.text):
            raise RosettaError(f"rosetta: lesson step {s.key!r} needs its text ({LESSON_FILE})")


def extra_rows(rosetta: Rosetta, step: Step) -> list[Row]:
    """The step's own rows, computed by every backend on the rosetta's spec ([] without numbers)."""
    if not rosetta.numbers or not step.numbers:
        return []
    tol = rosetta.spec.tolerance(DTYPE)
    contexts = {b: Context(b, rosetta.spec) for b in ORDER}
    rows = []
    for n in step.numbers:
        values = {}
        for b, ctx in contexts.items():
            try:
                values[b] = ctx.to_numpy(n.for_backend(b)(ctx))
            except Exception as exc:
                raise RosettaError(
                    f"rosetta: lesson step {step.key!r}, numbers {n.label!r}, {b}: {type(exc).__name__}: {exc}"
                ) from exc
        rows.append(Row(n.label, n.kind, values, 0.0 if n.kind == "exact" else getattr(tol, n.kind)))
    return rows


def printed_costs(rosetta: Rosetta) -> tuple[list[int], dict[str, np.ndarray]]:
    """The epochs the lesson printed, and at those epochs the lesson's costs ("lesson") and each backend's."""
    spec = rosetta.spec
    epochs = list(spec.expected_epochs)
    costs = {"lesson": np.asarray(spec.expected_costs, dtype=np.float64)}
    for b in ORDER:
        run = np.asarray(rosetta.costs[b], dtype=np.float64)
        costs[b] = run[epochs]
    return epochs, costs
