"""The concept table: the sections of the side-by-side docs, in order.

Each ``Concept`` has its title, a line on what it is, the note on what differs that holds for every
backend, and the numbers every backend computes (``Numbers``: one computation for all of them, through
their public functions). Which of a backend's code a concept shows, and the backend's own paragraph of
the note, are the backend's: ``[concepts.KEY]`` in the docs.toml beside its module (columns.py).
"""

from __future__ import annotations

from .computations import (
    CLASS_WEIGHT,
    IGNORE_INDEX,
    IGNORED_ROWS,
    SMOOTHING,
    STORED_WEIGHT,
    cost_epochs,
    ignored_target,
    model_logits,
    sgd_bias,
    soft_target,
)
from .refs import Concept, Numbers, Ref

__all__ = ["CONCEPTS", "Concept", "Numbers", "Ref", "concepts"]


def _level_rows(level: str) -> list[Numbers]:
    """A loss level's rows: the mean over the rows, and the first rows' losses."""
    return [
        Numbers("mean over the 8 rows", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, level=level)),
        Numbers(
            "per row (reduction none), rows 0 to 2",
            "output",
            lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none", level=level)[:3],
        ),
    ]


CONCEPTS: list[Concept] = [
    Concept(
        "softmax",
        "Softmax",
        intro="`softmax(z)_i = exp(z_i) / sum_j exp(z_j)`: logits to probabilities, along the class axis.",
        note="Subtracting each row's max first changes nothing but keeps `exp()` from overflowing (the "
        "largest term becomes `exp(0) = 1`). The backends all take `axis=`, as Keras does.",
        numbers=[
            Numbers("softmax(z), row 0", "output", lambda c: c.be.softmax(c.logits)[0]),
            Numbers("softmax(z), row 7", "output", lambda c: c.be.softmax(c.logits)[7]),
        ],
    ),
    Concept(
        "log-softmax",
        "Log-softmax",
        intro="`log_softmax(z) = z - logsumexp(z)`: the log-probabilities the losses need.",
        note="One step, never the log of a probability that may have underflowed to 0.",
        numbers=[Numbers("log_softmax(z), row 0", "output", lambda c: c.be.log_softmax(c.logits)[0])],
    ),
    Concept(
        "one-hot",
        "One-hot targets",
        intro="Class indices (N,) to rows with a single 1: (N, C). The lesson's low-level loss multiplies by them.",
        note="",
        numbers=[
            Numbers(
                "one_hot(y)[[0, 3, 6]] (labels 2, 1, 0)",
                "exact",
                lambda c: c.call("functional:one_hot", c.y, c.spec.num_classes)[[0, 3, 6]],
            )
        ],
    ),
    Concept(
        "loss-onehot",
        "Loss, level 1: one-hot times minus log softmax",
        intro="The lesson's first formula: `(y_one_hot * -torch.log(F.softmax(z, dim=1))).sum(dim=1).mean()`.",
        note="The same formula in every backend; every torch option is folded into the target distribution "
        "`a` (each option has its own section in docs/rosetta.md). Its weak spot is shared as well: "
        "`log(softmax(z))` of a probability that underflowed to 0 is `-inf`, so logits like +-1e4 "
        "give inf or nan where the fused level (level 3) stays exact.",
        numbers=_level_rows("onehot"),
    ),
    Concept(
        "loss-nll",
        "Loss, level 2: nll_loss of log_softmax",
        intro="The lesson's second form: `F.nll_loss(F.log_softmax(z, dim=1), y)`, no one-hot vector formed.",
        note="",
        numbers=_level_rows("nll"),
    ),
    Concept(
        "loss-fused",
        "Loss, level 3: the fused cross-entropy",
        intro="The lesson's last form: `F.cross_entropy(z, y)`, `log_softmax` and `nll_loss` in one call.",
        note="",
        numbers=_level_rows("fused"),
    ),
]

# Each of torch's cross-entropy options, in every backend: the functions in every
# backends/*/functional.py take weight=, ignore_index=, reduction=, label_smoothing= and
# probability targets.
OPTION_CONCEPTS: list[Concept] = [
    Concept(
        "option-weight",
        "Cross-entropy option: weight (one per class)",
        intro="`weight` (C,) scales each element's loss by the weight of its label; "
        f"here `weight = {list(CLASS_WEIGHT)}`.",
        note="The mean divides by the sum of the weights that count, not by N.",
        numbers=[
            Numbers(
                "fused, mean",
                "output",
                lambda c: c.call("functional:cross_entropy", c.logits_n, c.y, weight=c.native(CLASS_WEIGHT)),
            ),
            Numbers(
                "level 1 (one-hot), mean",
                "output",
                lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, c.y, weight=c.native(CLASS_WEIGHT)),
            ),
        ],
    ),
    Concept(
        "option-ignore-index",
        "Cross-entropy option: ignore_index",
        intro=f"Targets equal to `ignore_index` (torch's default {IGNORE_INDEX}, for padding) add nothing, "
        f"not even to the mean's denominator; here rows {IGNORED_ROWS[0]} and {IGNORED_ROWS[1]} are ignored.",
        note="",
        numbers=[
            Numbers(
                "nll_loss(log_softmax(z), t), mean of 6 rows",
                "output",
                lambda c: c.call(
                    "functional:nll_loss",
                    c.call_native("functional:log_softmax", c.logits_n, axis=1),
                    ignored_target(c),
                    ignore_index=IGNORE_INDEX,
                ),
            ),
            Numbers(
                "fused, mean of 6 rows",
                "output",
                lambda c: c.call("functional:cross_entropy", c.logits_n, ignored_target(c), ignore_index=IGNORE_INDEX),
            ),
        ],
    ),
    Concept(
        "option-reduction",
        "Cross-entropy option: reduction",
        intro='`reduction`: `"none"` (one loss per element), `"sum"`, or `"mean"` '
        "(the sum over the mean's denominator).",
        note="",
        numbers=[
            Numbers("fused, sum", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="sum")),
            Numbers(
                "fused, none, rows 0 to 2",
                "output",
                lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none")[:3],
            ),
        ],
    ),
    Concept(
        "option-label-smoothing",
        "Cross-entropy option: label_smoothing",
        intro="The target becomes `(1 - eps) * one_hot(y) + eps / C`, a little mass on every class; "
        f"here `eps = {SMOOTHING}`.",
        note="",
        numbers=[
            Numbers(
                "fused, mean",
                "output",
                lambda c: c.call("functional:cross_entropy", c.logits_n, c.y, label_smoothing=SMOOTHING),
            ),
            Numbers(
                "level 1 (one-hot), mean",
                "output",
                lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, c.y, label_smoothing=SMOOTHING),
            ),
        ],
    ),
    Concept(
        "option-probabilities",
        "Cross-entropy option: probability targets",
        intro="A float target of the logits' shape is a distribution over the classes (soft labels); "
        "here 0.7 on the label and 0.1 on every class.",
        note="`ignore_index` doesn't apply, and the mean divides by the number of elements.",
        numbers=[
            Numbers("fused, mean", "output", lambda c: c.call("functional:cross_entropy", c.logits_n, soft_target(c))),
            Numbers(
                "level 1 (one-hot), mean",
                "output",
                lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, soft_target(c)),
            ),
        ],
    ),
]

TRAINING_CONCEPTS: list[Concept] = [
    Concept(
        "model",
        "The model: a linear layer",
        intro="`logits = x W^T + b`, `nn.Linear(4, 3)`, started from the spec's initial parameters "
        "(what `torch.manual_seed(1); nn.Linear(4, 3)` draws).",
        note="The same three names in every backend: the class `SoftmaxClassifier`, `init_model` (a model "
        "that starts from the spec's parameters) and `weight_and_bias` (its parameters in torch's "
        "layout).",
        numbers=[
            Numbers("logits = model(x), row 0", "output", model_logits),
            Numbers("the weight as stored", "exact", STORED_WEIGHT),
        ],
    ),
    Concept(
        "optimizer",
        "The optimizer: SGD",
        intro="`torch.optim.SGD`'s rule: weight decay joins the gradient, then the momentum buffer, "
        "then `p <- p - lr * g`.",
        note="`make_optimizer(model, lr, ...)` in every backend, then what it builds on. The numbers: the "
        "spec's lr on the initial bias, three steps with the gradient `[0.5, -0.25, 0.125]`.",
        numbers=[
            Numbers("bias after 3 steps, the spec's SGD", "output", sgd_bias(None)),
            Numbers("bias after 3 steps, momentum 0.9", "output", sgd_bias(0.9)),
        ],
    ),
    Concept(
        "step",
        "One training step",
        intro="Forward, the loss, its gradients, one update.",
        note="`loss_fn(model, x, y)` and `train_step(model, optimizer, x, y)` in every backend; what "
        "differs is where the gradients come from.",
        numbers=[
            Numbers("cost at epoch 0, before the step", "output", lambda c: c.run(epochs=0).costs[0]),
            Numbers("bias after the step", "output", lambda c: c.run(epochs=0).bias),
        ],
    ),
    Concept(
        "loop",
        "The whole training loop",
        intro="Epochs 0 to 1000, each one SGD step on the batch (the whole data set in the lesson), "
        "the cost recorded before the step.",
        note="The same loop in every backend, line for line: `init_model`, `make_optimizer`, then "
        "`train_step` on each batch, fed the same batches by the spec (no framework draws its own "
        "random numbers), and `weight_and_bias` at the end. Only the costs are kept differently.",
        numbers=[
            Numbers("cost at epochs 0, 500, 1000", "cost", lambda c: c.run().costs[cost_epochs(c.spec)]),
            Numbers("final weight, row 0", "param", lambda c: c.run().weight[0]),
            Numbers("final bias", "param", lambda c: c.run().bias),
            Numbers("training accuracy (of the 8 rows)", "exact", lambda c: c.run().accuracy),
        ],
    ),
    Concept(
        "fused",
        "The fused loop: compiled, or fused by hand",
        intro="The same run with the per-step overhead taken out: the variants `fast` (NumPy), "
        "`compiled` (PyTorch), `fused` (JAX) and `compiled` (MLX) of `softmax-rosetta train`.",
        note="",
        numbers=[
            Numbers("the variant", "exact", lambda c: c.be.fused_variant),
            Numbers("final cost", "cost", lambda c: c.run(variant=c.be.fused_variant).costs[-1]),
            Numbers("final bias", "param", lambda c: c.run(variant=c.be.fused_variant).bias),
        ],
    ),
    Concept(
        "data-parallel",
        "The data-parallel step: DistributedDataParallel beside JAX sharding",
        intro="The same steps on K workers, each taking its share of every batch's rows: "
        "`softmax-rosetta train torch|jax --workers K` (docs/distributed.md).",
        note="The data-parallel backends divide the summed loss by the whole batch's rows, so a batch that "
        "doesn't split evenly still has the global mean. Only the order of the additions changes: "
        "float64 agrees with one process to rounding.",
        numbers=[
            Numbers(
                "takes --workers > 1 (Backend.data_parallel)",
                "exact",
                lambda c: "yes" if c.be.data_parallel else "no: the single-process reference",
            ),
        ],
    ),
]


def concepts() -> list[Concept]:
    """Every concept in the docs' order."""
    return [*CONCEPTS, *OPTION_CONCEPTS, *TRAINING_CONCEPTS]
