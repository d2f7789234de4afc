"""The notebooks' code cells: one per lesson step, the same code for every backend but for how the
framework is imported and how it makes an array (the backend's dialect: ``[notebook]`` in its docs.toml).

Each cell imports the step's functions from ``softmax_rosetta.backends.<name>_impl``, the names the
three backends share, and runs them on the spec. ``$name`` in a cell is filled in from the
backend's dialect, ``$spec`` and ``$every`` from the spec. The second field of each entry says how
closely a fresh run's output must match the committed one's: a field of the spec's ``Tolerance``
("output", "cost") or "exact".
"""

from __future__ import annotations

from string import Template

from softmax_rosetta.registry import BACKENDS
from softmax_rosetta.spec import Spec

from . import columns
from .lesson_steps import Formula

# The lesson's examples (softmax_rosetta.examples), as the one-line formulas' z and y.
EXAMPLE_ARRAYS = {
    "softmax": "z_example = $array(softmax_example.scores, dtype=$float32)  # the lesson's [1, 2, 3]",
    "cross_entropy": "z_example = $array(ce_example.scores, dtype=$float32)  # the lesson's 3 x 5 scores\n"
    "y_example = $array(ce_example.targets)  # and its classes, [4, 2, 3]",
}

CELLS: dict[str, tuple[str, str]] = {
    "data": (
        """\
$imports

from softmax_rosetta import load_spec
from softmax_rosetta.examples import lesson_examples

spec = load_spec("$spec")
softmax_example, ce_example = lesson_examples()  # the lesson's own small examples, before its classifier
x_train = $array(spec.x_train, dtype=$float32)  # 8 samples x 4 features
y_train = $array(spec.y_train)  # the class of each sample: 0, 1 or 2
weight = $array(spec.init_weight, dtype=$float32)  # 3 x 4: what torch.manual_seed(1); nn.Linear(4, 3) draws
bias = $array(spec.init_bias, dtype=$float32)  # 3
print($show_x)
print($show_y)""",
        "exact",
    ),
    "softmax": (
        """\
from $impl.functional import softmax

scores = $array([1.0, 2.0, 3.0], dtype=$float32)
print(softmax(scores, axis=0))

z = x_train @ weight.T + bias  # the untrained model's logits: a row of 3 scores per sample
print(softmax(z, axis=1)[0])""",
        "output",
    ),
    "loss-onehot": (
        """\
from $impl.functional import cross_entropy_onehot, one_hot

y_one_hot = one_hot(y_train, spec.num_classes)
print(y_one_hot[:4])
by_hand = (y_one_hot * -$xp.log(softmax(z, axis=1))).sum(axis=1).mean()
print(by_hand)
print(cross_entropy_onehot(z, y_train))""",
        "output",
    ),
    "loss-nll": (
        """\
from $impl.functional import cross_entropy_nll, log_softmax, nll_loss

log_probs = log_softmax(z, axis=1)
print(log_probs[0])
print(nll_loss(log_probs, y_train))
print(cross_entropy_nll(z, y_train))""",
        "output",
    ),
    "loss-fused": (
        """\
from $impl.functional import cross_entropy

print(cross_entropy(z, y_train))""",
        "output",
    ),
    "model": (
        """\
from $impl.model import init_model, weight_and_bias

model = init_model(weight, bias)
print(model(x_train)[0])  # the logits of sample 0: z[0]""",
        "output",
    ),
    "sgd": (
        """\
from $impl.train import make_optimizer, train_step

optimizer = make_optimizer(model, spec.lr)
cost = train_step(model, optimizer, x_train, y_train)
print(cost)  # the cost before the step
new_weight, new_bias = weight_and_bias(model)
print(new_bias)  # the bias after one step""",
        "output",
    ),
    "loop": (
        """\
from $impl.train import train


def print_cost(epoch, cost):
    print(f"epoch: {epoch} cost: {cost}")


costs, final_weight, final_bias = train(
    x_train, y_train, weight, bias, spec.lr, spec.epochs, log_every=$every, log=print_cost
)""",
        "cost",
    ),
}


def dialect(backend: str) -> dict[str, str]:
    """The backend's names for the cells: its dialect, and its package (``impl``)."""
    names = columns.dialect(backend)
    # the framework's imports, the one-line formulas' too, at the top of the first cell, sorted (ruff lints notebooks)
    imports = "\n".join(sorted({names["import_xp"], *names["import_one_line"].splitlines()}))
    show = columns.show_array(backend)  # how a cell prints an array in full
    return {
        **names,
        "imports": imports,
        "impl": BACKENDS[backend].module.rpartition(".")[0],
        "show_x": show.format("x_train"),
        "show_y": show.format("y_train"),
    }


def code_cell_source(step: str, backend: str, spec: Spec, formula: Formula | None = None) -> str:
    """The code cell of lesson step ``step`` for ``backend``; with the step's ``formula``, it ends by
    running the lesson's one line on the lesson's example."""
    template, _ = CELLS[step]
    code = Template(template).substitute(dialect(backend), spec=spec.name, every=spec.expected_every)
    return code if formula is None else code + "\n\n" + one_line_source(formula, backend)


def one_line_source(formula: Formula, backend: str) -> str:
    """The lesson's one line for ``backend``, as a function of z (and y), run on its example."""
    args = "z" if formula.example == "softmax" else "z, y"
    example = Template(EXAMPLE_ARRAYS[formula.example]).substitute(dialect(backend))
    call = "z_example" if formula.example == "softmax" else "z_example, y_example"
    return (
        f"{example}\n\n\n"
        f"def one_line({args}):  # the lesson's one line\n"
        f"    return {formula.code[backend]}\n\n\n"
        f"print(one_line({call}))"
    )
