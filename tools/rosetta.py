"""The lesson side by side: docs/rosetta.md and docs/rosetta.html, generated from the backends' code.

    softmax-rosetta rosetta            # write docs/rosetta.md and docs/rosetta.html
    softmax-rosetta rosetta --check    # exit 1 if either is stale against the code

For each concept (softmax, the three loss levels, torch's cross-entropy options, the model, the
optimizer, one step, the loop, the fused loop) the docs show the code of the three backends one
after another (three columns in the HTML), each block cut from its file with ``ast`` and linked
to its file and line, a note on what differs and why, and the numbers the three backends compute
on the seed spec (float32, CPU).

The tables ``CONCEPTS``, ``OPTION_CONCEPTS`` (the cross-entropy options; ``OPTIONS_ENABLED``
switches them off), ``TRAINING_CONCEPTS`` and ``FUSED_VARIANTS`` are the only place that names
backend code. Each ``Concept`` lists, per backend, references like ``"functional:softmax"``
(module ``functional.py``, top-level ``softmax``), ``"model:SoftmaxClassifierModel.__call__"``
(a method) or a few lines of a function (``Ref(..., lines=(first, last))``, the first line
containing ``first`` through the next containing ``last``). A name that is gone raises
``RosettaError`` naming the concept, the backend and the file: when code is renamed, the
staleness test says where to update the table.

Staleness (``check``): the docs are regenerated in memory and compared with the files.
Everything but the numbers must match exactly (code, links with line numbers, notes); each
number may differ from the committed one by the spec's tolerance for its kind (``output``,
``cost``, ``param``; ``exact`` for integers and one-hot values) plus one unit in the last
printed digit of each, because float32 results can differ in the last digits between machines
and BLAS builds. The embedded loss plot is drawn from the same runs and is not compared
pixel by pixel; the framework versions line is not compared either, and highlighted code is
compared by its text (another Pygments version may mark it up differently).
"""

from __future__ import annotations

import ast
import base64
import html
import importlib
import importlib.util
import io
import math
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .files import atomic_write
from softmax_rosetta.registry import BACKENDS, get_backend, missing_packages
from softmax_rosetta.spec import Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent   # the repository: common/ and backends/ are in it
ORDER = ("numpy", "torch", "jax")               # the columns, left to right
TITLES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX / Flax NNX / Optax"}
SHORT = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX"}
FILES = ("rosetta.md", "rosetta.html")
SPEC = "seed"
DTYPE = "float32"
DIGITS = 6                                      # significant digits of every number in the docs
# Links go from docs/ to the backends: the docs are meant to live in the repository's docs/.
LINK_PREFIX = "../"


class RosettaError(Exception):
    """The concept table names code that isn't there, or the docs can't be generated."""


# --- the table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """A piece of one backend's code: ``"module:qualified.name"``, optionally only some lines of it.

    lines=(first, last): from the first line containing ``first`` through the next line
    containing ``last`` (both inside the definition), and to the end of the statement that
    line starts.
    """

    target: str
    lines: tuple[str, str] | None = None

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def name(self) -> str:
        return self.target.partition(":")[2]


@dataclass(frozen=True)
class Numbers:
    """One row of a concept's numbers: ``compute(ctx)`` for each backend (or one per backend).

    kind says how closely a regenerated number must match the committed one: a field of the
    spec's ``Tolerance`` ("output", "cost", "param"), or "exact".
    A computation may return an array, a number, a tuple (a shape) or a str (shown as text).
    """

    label: str
    kind: str
    compute: Callable[["Context"], Any] | Mapping[str, Callable[["Context"], Any]]

    def for_backend(self, name: str) -> Callable[["Context"], Any]:
        if callable(self.compute):
            return self.compute
        return self.compute[name]


@dataclass(frozen=True)
class Concept:
    key: str                                  # the anchor: docs/rosetta.html#softmax
    title: str
    code: Mapping[str, Sequence[Ref | str]]   # backend -> its pieces of code, in order
    note: str                                 # what differs between the backends, and why
    numbers: Sequence[Numbers]
    intro: str = ""                           # one line on what the concept is, before the code


def same(*targets: Ref | str) -> dict[str, tuple[Ref | str, ...]]:
    """The same references in every backend (the modules and names are shared by design)."""
    return {name: targets for name in ORDER}


# Arguments shared by the option rows: a weight per class, targets with two rows ignored, and
# probability targets (0.7 on the label and 0.1 on each class).
CLASS_WEIGHT = (0.2, 0.3, 0.5)
IGNORED_ROWS = (0, 3)
IGNORE_INDEX = -100
SMOOTHING = 0.1


def _ignored_target(c: "Context") -> Any:
    t = np.array(c.spec.y_train, dtype=np.int64)
    t[list(IGNORED_ROWS)] = IGNORE_INDEX
    return c.native(t)


def _soft_target(c: "Context") -> Any:
    y = np.asarray(c.spec.y_train)
    q = 0.7 * np.eye(c.spec.num_classes)[y] + 0.1
    return c.native(q.astype(c.dtype))


def _sgd_bias(c: "Context", momentum: float) -> Any:
    """The spec's SGD (its lr; momentum as given) on the initial bias, 3 steps with a fixed gradient."""
    lr, g0 = c.spec.lr, np.array([0.5, -0.25, 0.125], dtype=c.dtype)
    options = {**c.spec.optimizer_options, "momentum": momentum}
    if c.name == "numpy":
        params, buffers = {"bias": np.array(c.spec.init_bias, dtype=c.dtype)}, {}
        for _ in range(3):
            c.module("train").sgd_step(params, {"bias": g0}, c.dtype.type(lr), buffers, **options)
        return params["bias"]
    if c.name == "torch":
        import torch
        p = torch.nn.Parameter(c.native(c.spec.init_bias))
        opt = torch.optim.SGD([p], lr=lr, **options)
        for _ in range(3):
            p.grad = c.native(g0)
            opt.step()
        return p
    import optax
    p, tx = c.native(c.spec.init_bias), c.module("train").sgd(lr, **options)
    state = tx.init(p)
    for _ in range(3):
        updates, state = tx.update(c.native(g0), state, p)
        p = optax.apply_updates(p, updates)
    return p


def _cost_epochs(spec: Spec) -> list[int]:
    return sorted({0, spec.epochs // 2, spec.epochs})


def _model(c: "Context") -> Any:
    m = c.module("model")
    return m.init_params(c.w, c.b) if c.name == "numpy" else m.init_model(c.w, c.b)


def _logits_of_model(c: "Context") -> Any:
    model = _model(c)
    return (c.module("model").forward(model, c.x) if c.name == "numpy" else model(c.x))[0]


_STORED_WEIGHT = {
    "numpy": lambda c: tuple(_model(c)["weight"].shape),
    "torch": lambda c: tuple(_model(c).linear.weight.shape),
    "jax": lambda c: tuple(_model(c).linear.kernel.shape),
}


# The variant of each backend's train that the fused-loop section shows and runs.
FUSED_VARIANTS = {"numpy": "fast", "torch": "compiled", "jax": "fused"}


CONCEPTS: list[Concept] = [
    Concept(
        "softmax", "Softmax",
        same("functional:softmax"),
        intro="`softmax(z)_i = exp(z_i) / sum_j exp(z_j)`: logits to probabilities, along the class axis.",
        note="NumPy writes the formula out, subtracting each row's max first so that `exp()` can't "
             "overflow (the largest term becomes `exp(0) = 1`); `F.softmax` and `jax.nn.softmax` do the "
             "same subtraction inside. torch calls the axis `dim`, NumPy and JAX call it `axis`; the "
             "backends all take `axis=`, as Keras does, and torch's passes it on as `dim`.",
        numbers=[Numbers("softmax(z), row 0", "output", lambda c: c.be.softmax(c.logits)[0]),
                 Numbers("softmax(z), row 7", "output", lambda c: c.be.softmax(c.logits)[7])],
    ),
    Concept(
        "log-softmax", "Log-softmax",
        same("functional:log_softmax"),
        intro="`log_softmax(z) = z - logsumexp(z)`: the log-probabilities the losses need.",
        note="One step, never the log of a probability that may have underflowed to 0. NumPy spells "
             "logsumexp out (`max + log(sum(exp(z - max)))`); torch and JAX have it as one op, "
             "`F.log_softmax` and `jax.nn.log_softmax`.",
        numbers=[Numbers("log_softmax(z), row 0", "output", lambda c: c.be.log_softmax(c.logits)[0])],
    ),
    Concept(
        "one-hot", "One-hot targets",
        same("functional:one_hot"),
        intro="Class indices (N,) to rows with a single 1: (N, C). The lesson's low-level loss multiplies by them.",
        note="torch writes ones into a tensor of zeros with the in-place `scatter_`, the lesson's way. "
             "JAX arrays are immutable, so there is nothing to scatter into: `jax.nn.one_hot` builds "
             "the result. NumPy's `put_along_axis` writes into zeros, as `scatter_` does.",
        numbers=[Numbers("one_hot(y)[[0, 3, 6]] (labels 2, 1, 0)", "exact",
                         lambda c: c.call("functional:one_hot", c.y, c.spec.num_classes)[[0, 3, 6]])],
    ),
    Concept(
        "loss-onehot", "Loss, level 1: one-hot times minus log softmax",
        same("functional:cross_entropy_onehot"),
        intro="The lesson's first formula: `(y_one_hot * -torch.log(F.softmax(z, dim=1))).sum(dim=1).mean()`.",
        note="The same formula in all three; every torch option is folded into the target "
             "distribution `a` (see the option sections below). Its weak spot is shared as well: "
             "`log(softmax(z))` of a probability that underflowed to 0 is `-inf`, so logits like "
             "+-1e4 give inf or nan where the fused level stays exact.",
        numbers=[Numbers("mean over the 8 rows", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, level="onehot")),
                 Numbers("per row (reduction none), rows 0 to 2", "output",
                         lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none", level="onehot")[:3])],
    ),
    Concept(
        "loss-nll", "Loss, level 2: nll_loss of log_softmax",
        same("functional:nll_loss", "functional:cross_entropy_nll"),
        intro="The lesson's second form: `F.nll_loss(F.log_softmax(z, dim=1), y)`, no one-hot vector formed.",
        note="torch has `F.nll_loss`. JAX and optax have none, so `jnp.take_along_axis` picks each "
             "row's log-probability of its label; NumPy does the same with `np.take_along_axis`. "
             "The mask (`jnp.where`, `np.where`) is how `ignore_index` is done without torch.",
        numbers=[Numbers("mean over the 8 rows", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, level="nll")),
                 Numbers("per row (reduction none), rows 0 to 2", "output",
                         lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none", level="nll")[:3])],
    ),
    Concept(
        "loss-fused", "Loss, level 3: the fused cross-entropy",
        same("functional:cross_entropy"),
        intro="The lesson's last form: `F.cross_entropy(z, y)`, `log_softmax` and `nll_loss` in one call.",
        note="torch passes every option to `F.cross_entropy`. JAX uses "
             "`optax.softmax_cross_entropy_with_integer_labels`, after subtracting the row's max "
             "(optax computes `logsumexp(z) - z[y]`, which loses digits at large float32 logits), and "
             "builds torch's options around it. NumPy writes `logsumexp(z) - z[y]` out.",
        numbers=[Numbers("mean over the 8 rows", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, level="fused")),
                 Numbers("per row (reduction none), rows 0 to 2", "output",
                         lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none", level="fused")[:3])],
    ),
]

# Each of torch's cross-entropy options, in the three backends. They need the functions that
# take weight=, ignore_index=, reduction=, label_smoothing= and probability targets in every
# backends/*/functional.py; OPTIONS_ENABLED = False leaves these sections out of the docs.
OPTIONS_ENABLED = True
OPTION_CONCEPTS: list[Concept] = [
    Concept(
        "option-weight", "Cross-entropy option: weight (one per class)",
        {"numpy": ("functional:_counted",), "torch": ("functional:cross_entropy",), "jax": ("functional:_counted",)},
        intro=f"`weight` (C,) scales each element's loss by the weight of its label; here `weight = {list(CLASS_WEIGHT)}`.",
        note="torch takes `weight=` in `F.cross_entropy` and `F.nll_loss` (the fused level is shown). "
             "NumPy gathers `weight[y]` per element, JAX the same with `jnp.take`; optax's losses take "
             "no weight. The mean divides by the sum of the weights that count, not by N, in all three.",
        numbers=[Numbers("fused, mean", "output",
                         lambda c: c.call("functional:cross_entropy", c.logits_n, c.y, weight=c.native(CLASS_WEIGHT))),
                 Numbers("level 1 (one-hot), mean", "output",
                         lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, c.y, weight=c.native(CLASS_WEIGHT)))],
    ),
    Concept(
        "option-ignore-index", "Cross-entropy option: ignore_index",
        same("functional:nll_loss"),
        intro=f"Targets equal to `ignore_index` (torch's default {IGNORE_INDEX}, for padding) add nothing, "
              f"not even to the mean's denominator; here rows {IGNORED_ROWS[0]} and {IGNORED_ROWS[1]} are ignored.",
        note="optax has no `ignore_index`. JAX masks with `jnp.where` and sets the ignored targets to "
             "class 0 so that they can still index (JAX can't raise inside a jitted function); "
             "NumPy does the same with `np.where`. torch: `F.nll_loss(..., ignore_index=)`.",
        numbers=[Numbers("nll_loss(log_softmax(z), t), mean of 6 rows", "output",
                         lambda c: c.call("functional:nll_loss", c.call_native("functional:log_softmax", c.logits_n, axis=1),
                                          _ignored_target(c), ignore_index=IGNORE_INDEX)),
                 Numbers("fused, mean of 6 rows", "output",
                         lambda c: c.call("functional:cross_entropy", c.logits_n, _ignored_target(c), ignore_index=IGNORE_INDEX))],
    ),
    Concept(
        "option-reduction", "Cross-entropy option: reduction",
        same("functional:_reduce"),
        intro='`reduction`: `"none"` (one loss per element), `"sum"`, or `"mean"` (the sum over the mean\'s denominator).',
        note="optax returns per-element losses and leaves the reduction to the caller, so JAX "
             "reduces with a small `_reduce`; NumPy has the same one. torch's `F` functions take "
             "`reduction=` themselves: torch's `_reduce` serves only its spelled-out one-hot level.",
        numbers=[Numbers("fused, sum", "output", lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="sum")),
                 Numbers("fused, none, rows 0 to 2", "output",
                         lambda c: c.be.cross_entropy(c.logits, c.y_host, reduction="none")[:3])],
    ),
    Concept(
        "option-label-smoothing", "Cross-entropy option: label_smoothing",
        same("functional:_target_distribution"),
        intro=f"The target becomes `(1 - eps) * one_hot(y) + eps / C`, a little mass on every class; here `eps = {SMOOTHING}`.",
        note="torch: `F.cross_entropy(..., label_smoothing=eps)`; its one-hot level writes the mix out "
             "as NumPy does. JAX uses `optax.smooth_labels`, the same formula. NumPy's and JAX's fused "
             "levels (level 3) add eps times the cross-entropy against the uniform target instead of "
             "forming the mixed target.",
        numbers=[Numbers("fused, mean", "output",
                         lambda c: c.call("functional:cross_entropy", c.logits_n, c.y, label_smoothing=SMOOTHING)),
                 Numbers("level 1 (one-hot), mean", "output",
                         lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, c.y, label_smoothing=SMOOTHING))],
    ),
    Concept(
        "option-probabilities", "Cross-entropy option: probability targets",
        {"numpy": ("functional:_is_probabilities", Ref("functional:cross_entropy", ("if _is_probabilities", "return _reduce("))),
         "torch": ("functional:cross_entropy",),
         "jax": ("functional:_is_probabilities", Ref("functional:cross_entropy", ("if _is_probabilities", "return _reduce(")))},
        intro="A float target of the logits' shape is a distribution over the classes (soft labels); "
              "here 0.7 on the label and 0.1 on every class.",
        note="torch's `F.cross_entropy` tells class indices from probabilities by the target's dtype; "
             "NumPy and JAX test the dtype the same way and compute `sum_c q_c * -log p_c` (JAX with "
             "`optax.softmax_cross_entropy`, which takes probabilities). `ignore_index` doesn't apply, "
             "and the mean divides by the number of elements.",
        numbers=[Numbers("fused, mean", "output", lambda c: c.call("functional:cross_entropy", c.logits_n, _soft_target(c))),
                 Numbers("level 1 (one-hot), mean", "output",
                         lambda c: c.call("functional:cross_entropy_onehot", c.logits_n, _soft_target(c)))],
    ),
]

TRAINING_CONCEPTS: list[Concept] = [
    Concept(
        "model", "The model: a linear layer",
        {"numpy": ("model:init_params", "model:forward"),
         "torch": ("model:SoftmaxClassifierModel", "model:init_model"),
         "jax": ("model:PRECISION", "model:SoftmaxClassifierModel", "model:init_model", "model:weight_and_bias")},
        intro="`logits = x W^T + b`, `nn.Linear(4, 3)`, started from the spec's initial parameters (what `torch.manual_seed(1); nn.Linear(4, 3)` draws).",
        note="torch's `nn.Linear` stores `weight` (out, in) = (3, 4) and computes `x W^T + b`. Flax's "
             "`nnx.Linear` stores its `kernel` (in, out) = (4, 3) and computes `x @ kernel + b`, so "
             "`init_model` transposes the spec's weight at the boundary and `weight_and_bias` transposes "
             "it back. Flax wants `rngs` to build the layer although the values are overwritten, and "
             "gets `Precision.HIGHEST` so that float32 matmuls stay float32 on GPUs. NumPy's parameters "
             "are a plain dict and its forward is one line.",
        numbers=[Numbers("logits = model(x), row 0", "output", _logits_of_model),
                 Numbers("the weight as stored", "exact", _STORED_WEIGHT)],
    ),
    Concept(
        "optimizer", "The optimizer: SGD",
        {"numpy": ("train:sgd_step",),
         "torch": (Ref("train:train", ("optimizer = optim.SGD(", "optimizer = optim.SGD(")),),
         "jax": ("train:sgd", "train:dampened_trace")},
        intro="`torch.optim.SGD`'s rule: weight decay joins the gradient, then the momentum buffer, then `p <- p - lr * g`.",
        note="torch's `optim.SGD` is used as it is. `optax.sgd` is the same rule when dampening is 0; "
             "weight decay goes first in an `optax.chain`, and dampening needs a small hand-written "
             "`GradientTransformation`. NumPy writes the rule out and keeps the momentum buffers in a "
             "dict between steps. The numbers: the spec's lr on the initial bias, three steps with "
             "the gradient `[0.5, -0.25, 0.125]`.",
        numbers=[Numbers("bias after 3 steps, the spec's SGD", "output", lambda c: _sgd_bias(c, c.spec.momentum)),
                 Numbers("bias after 3 steps, momentum 0.9", "output", lambda c: _sgd_bias(c, 0.9))],
    ),
    Concept(
        "step", "One training step",
        {"numpy": ("model:loss_and_grads",
                   Ref("train:train", ("cost, grads = loss_and_grads(", "sgd_step("))),
         "torch": (Ref("train:train", ("prediction = model(", "optimizer.step()")),),
         "jax": ("train:loss_fn", "train:_step", "train:train_step")},
        intro="Forward, the loss, its gradients, one update.",
        note="NumPy needs a hand-written backward: `dL/dz = (softmax(z) - one_hot(y)) / N`, then the "
             "chain rule through the linear layer. torch records the forward, and `backward()` fills "
             "each parameter's `.grad`, which accumulates, hence `zero_grad()`. JAX needs explicit "
             "state: `nnx.value_and_grad` returns the gradients as values, `optimizer.update` writes "
             "the new parameters into the model, and `nnx.jit` compiles the step.",
        numbers=[Numbers("cost at epoch 0, before the step", "output", lambda c: c.run(epochs=0).losses[0]),
                 Numbers("bias after the step", "output", lambda c: c.run(epochs=0).bias)],
    ),
    Concept(
        "loop", "The whole training loop",
        same("train:train"),
        intro="Epochs 0 to 1000, each one SGD step on the batch (the whole data set in the lesson), the cost recorded before the step.",
        note="The same loop three times, fed the same batches by the spec (no framework draws its own "
             "random numbers). torch keeps the costs on the device and reads them back once at the end; "
             "JAX stacks them; NumPy writes them into an array.",
        numbers=[Numbers("cost at epochs 0, 500, 1000", "cost", lambda c: c.run().losses[_cost_epochs(c.spec)]),
                 Numbers("final weight, row 0", "param", lambda c: c.run().weight[0]),
                 Numbers("final bias", "param", lambda c: c.run().bias),
                 Numbers("training accuracy (of the 8 rows)", "exact", lambda c: c.run().accuracy)],
    ),
    Concept(
        "fused", "The fused loop: compiled, or fused by hand",
        {"numpy": ("fast:train_fast",),
         "torch": ("fast:_functional_step", "fast:compile_step", "fast:train_compiled"),
         "jax": ("train:train_fused", "train:_run_epochs")},
        intro="The same run with the per-step overhead taken out: the variants `fast` (NumPy), "
              "`compiled` (PyTorch) and `fused` (JAX) of `softmax-rosetta train`.",
        note="JAX compiles the whole run into one program: `nnx.split` turns the model and the "
             "optimizer into a static graph definition and a pytree of arrays, `jax.jit` compiles a "
             "`lax.scan` over the epochs, and `nnx.merge` rebuilds them inside; explicit state is what "
             "makes this possible. `torch.compile` compiles one step (Inductor fuses its elementwise ops) "
             "and Python still loops over the epochs; that step writes the gradient out instead of "
             "calling `backward()`. NumPy has no compiler, so its fast loop fuses by hand: buffers "
             "allocated once, ufuncs writing into them (`out=`), the one-hot targets made once, lr / N "
             "folded into one scale. The NumPy and torch fast paths cover full-batch plain SGD only.",
        numbers=[Numbers("the variant", "exact", lambda c: FUSED_VARIANTS[c.name]),
                 Numbers("final cost", "cost", lambda c: c.run(variant=FUSED_VARIANTS[c.name]).losses[-1]),
                 Numbers("final bias", "param", lambda c: c.run(variant=FUSED_VARIANTS[c.name]).bias)],
    ),
]


def concepts(options: bool | None = None) -> list[Concept]:
    """Every concept in the docs' order; the cross-entropy options only when enabled."""
    options = OPTIONS_ENABLED if options is None else options
    return [*CONCEPTS, *(OPTION_CONCEPTS if options else []), *TRAINING_CONCEPTS]


# --- code from the files ------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One piece of code as it stands in its file."""

    backend: str
    path: str        # relative to the repository: backends/numpy_impl/functional.py
    line: int        # first line shown, 1-based
    name: str        # what it is: softmax, SoftmaxClassifierModel.__call__, train
    code: str        # dedented source
    part: bool = False  # only some lines of ``name``

    @property
    def end_line(self) -> int:
        return self.line + self.code.count("\n")

    @property
    def link(self) -> str:
        return f"{LINK_PREFIX}{self.path}#L{self.line}"


def package_dir(backend: str) -> Path:
    """backends/<name>_impl, found without importing it (or its framework)."""
    package = BACKENDS[backend].module.rpartition(".")[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RosettaError(f"rosetta: backend {backend!r}: package {package} not found")
    return Path(list(spec.submodule_search_locations)[0])


def extract(backend: str, ref: Ref | str, where: str = "") -> Block:
    """The source of one reference, by ``ast`` on the file (no import: works without the framework)."""
    ref = Ref(ref) if isinstance(ref, str) else ref
    if not ref.module or not ref.name:
        raise RosettaError(f"rosetta: {where}{backend}: bad reference {ref.target!r} (expected 'module:name')")
    path = package_dir(backend) / f"{ref.module}.py"
    try:
        rel = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        rel = path.as_posix()
    if not path.is_file():
        raise RosettaError(f"rosetta: {where}{backend}: {rel} does not exist (named by {ref.target!r} in tools/rosetta.py)")
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    node = _find(ast.parse(source, filename=str(path)).body, ref.name.split("."))
    if node is None:
        raise RosettaError(f"rosetta: {where}{backend}: {rel} has no {ref.name!r} "
                           f"(named by {ref.target!r} in the concept table, tools/rosetta.py)")
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = node.end_lineno
    if ref.lines is None:
        # comment lines right above the definition belong to it (section rules "# ---" don't)
        while first > 1 and lines[first - 2].strip().startswith("#") and not lines[first - 2].strip().startswith("# ---"):
            first -= 1
    else:
        start_text, end_text = ref.lines
        start = next((i for i in range(first, last + 1) if start_text in lines[i - 1]), None)
        end = None if start is None else next((i for i in range(start, last + 1) if end_text in lines[i - 1]), None)
        if start is None or end is None:
            missing = start_text if start is None else end_text
            raise RosettaError(f"rosetta: {where}{backend}: {rel}: {ref.name} has no line containing {missing!r} "
                               f"(the lines named by {ref.target!r} in tools/rosetta.py)")
        # a statement that starts on the last line is shown whole (a call over several lines)
        end = max([end, *(n.end_lineno for n in ast.walk(node) if isinstance(n, ast.stmt) and n.lineno == end)])
        first, last = start, end
    code = textwrap.dedent("\n".join(lines[first - 1:last]))
    return Block(backend, rel, first, ref.name, code, part=ref.lines is not None)


def _find(body: list[ast.stmt], parts: list[str]) -> ast.AST | None:
    head, rest = parts[0], parts[1:]
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == head:
            if not rest:
                return node
            return _find(node.body, rest) if isinstance(node, ast.ClassDef) else None
        if not rest:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == head for t in targets):
                return node
    return None


# --- numbers from running the backends ----------------------------------------------------------

class Context:
    """One backend on the spec, float32 on the CPU, with helpers for the table's computations.

    logits: the spec's initial model on its data (N, C), computed once in NumPy (as
    ``softmax_rosetta.compare.forward_outputs`` does) and handed to every backend, so the backends' numbers
    differ only by their own code. x, w, b, y, logits_n: the same as native arrays.
    """

    def __init__(self, name: str, spec: Spec, dtype: str = DTYPE, runs: Callable[[str, str], Any] | None = None):
        self.name, self.spec = name, spec
        self.be = get_backend(name, device="cpu", dtype=dtype)
        self.dtype = self.be.np_dtype
        cast = lambda a: np.asarray(a).astype(self.dtype)  # noqa: E731
        self.logits = cast(spec.x_train) @ cast(spec.init_weight).T + cast(spec.init_bias)
        self.y_host = np.asarray(spec.y_train, dtype=np.int64)
        self.x, self.w, self.b = self.native(spec.x_train), self.native(spec.init_weight), self.native(spec.init_bias)
        self.y, self.logits_n = self.native(self.y_host), self.native(self.logits)
        self._runs: dict[tuple[str, int | None], Any] = {}
        self._shared_runs = runs

    def module(self, module: str) -> Any:
        return importlib.import_module(f"{BACKENDS[self.name].module.rpartition('.')[0]}.{module}")

    def native(self, array: Any) -> Any:
        """A host array (floats cast to the context's dtype, integers to int64) as the framework's array."""
        a = np.asarray(array)
        a = a.astype(self.dtype) if a.dtype.kind == "f" else a.astype(np.int64) if a.dtype.kind in "iu" else a
        return self.be._to_native(a)

    def to_numpy(self, value: Any) -> Any:
        if isinstance(value, (str, tuple)):
            return value
        if isinstance(value, (int, float, np.ndarray, np.generic)):
            return np.asarray(value)
        return np.asarray(self.be._to_numpy(value))

    def call_native(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """``module:function`` of this backend on native arguments, a native result."""
        module, _, name = target.partition(":")
        fn = getattr(self.module(module), name, None)
        if fn is None:
            raise RosettaError(f"rosetta: {self.name}: {module}.py has no {name!r} (used for the numbers)")
        return fn(*args, **kwargs)

    def call(self, target: str, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.to_numpy(self.call_native(target, *args, **kwargs))

    def run(self, variant: str = "lesson", epochs: int | None = None) -> Any:
        """The backend's training run on the spec (cached)."""
        key = (variant, epochs)
        if key not in self._runs:
            if epochs is None and self._shared_runs is not None:
                self._runs[key] = self._shared_runs(self.name, variant)
            else:
                self._runs[key] = self.be.train(self.spec, variant=variant, epochs=epochs)
        return self._runs[key]


@dataclass
class Row:
    label: str
    kind: str
    values: dict[str, Any]          # backend -> np.ndarray | tuple | str
    tolerance: float                # for the staleness check

    def spread(self) -> float | None:
        """The largest difference between two backends, or None for text."""
        if any(isinstance(v, (str, tuple)) for v in self.values.values()):
            return None
        arrays = [np.asarray(v, dtype=np.float64) for v in self.values.values()]
        if len(arrays) < 2 or len(arrays) != len(self.values) or len({a.shape for a in arrays}) > 1:
            return None
        return float(max(np.max(np.abs(a - b)) if a.size else 0.0 for a in arrays for b in arrays))


@dataclass
class Section:
    concept: Concept
    blocks: dict[str, list[Block]]
    rows: list[Row]


@dataclass
class Rosetta:
    spec: Spec
    sections: list[Section]
    versions: dict[str, str]
    costs: dict[str, np.ndarray] = field(default_factory=dict)   # "numpy", "torch", "jax", "jax fused" -> (epochs + 1,)
    numbers: bool = True
    plot: bytes | None = field(default=None, repr=False)          # the loss plot, drawn once


def build(spec: Spec | str = SPEC, *, numbers: bool = True, options: bool | None = None,
          runs: Callable[[str, str], Any] | None = None) -> Rosetta:
    """Every concept's code, and (numbers=True) its numbers from every backend, which must be installed.

    runs(backend, variant): the spec's full training run in float32 on the CPU, when the caller
    has one already (the tests' session cache); by default each backend trains here.
    """
    spec = load_spec(spec) if isinstance(spec, str) else spec
    table = concepts(options)
    keys = [c.key for c in table]
    if len(set(keys)) != len(keys):
        raise RosettaError(f"rosetta: two concepts share a key: {keys}")
    blocks = {}
    for concept in table:
        missing = [b for b in ORDER if not concept.code.get(b)]
        if missing:
            raise RosettaError(f"rosetta: concept {concept.key!r} names no code for {', '.join(missing)}")
        if not concept.note.strip() or not concept.numbers:
            raise RosettaError(f"rosetta: concept {concept.key!r} needs a note and numbers")
        blocks[concept.key] = {b: [extract(b, r, where=f"concept {concept.key!r}, ") for r in concept.code[b]] for b in ORDER}
    if not numbers:
        sections = [Section(c, blocks[c.key], []) for c in table]
        return Rosetta(spec, sections, {}, numbers=False)

    missing = {b: missing_packages(b) for b in ORDER}
    missing = {b: m for b, m in missing.items() if m}
    if missing:
        raise RosettaError("rosetta: the numbers need every backend; not installed: " + "; ".join(
            f"{b} (needs {', '.join(m)}: pip install 'softmax-rosetta[{BACKENDS[b].extra}]')" for b, m in missing.items()))
    contexts = {b: Context(b, spec, runs=runs) for b in ORDER}
    tol = spec.tolerance(DTYPE)
    sections = []
    for concept in table:
        rows = []
        for n in concept.numbers:
            values = {}
            for b, ctx in contexts.items():
                try:
                    fn = n.for_backend(b)
                except KeyError:
                    raise RosettaError(f"rosetta: concept {concept.key!r}, numbers {n.label!r}: nothing for {b}") from None
                try:
                    values[b] = ctx.to_numpy(fn(ctx))
                except RosettaError:
                    raise
                except Exception as exc:
                    raise RosettaError(f"rosetta: concept {concept.key!r}, numbers {n.label!r}, {b}: "
                                       f"{type(exc).__name__}: {exc}") from exc
            rows.append(Row(n.label, n.kind, values, 0.0 if n.kind == "exact" else getattr(tol, n.kind)))
        sections.append(Section(concept, blocks[concept.key], rows))
    versions = {}
    for ctx in contexts.values():
        versions.update(ctx.be.versions())
    costs = {b: ctx.run().losses for b, ctx in contexts.items()}
    costs["jax fused"] = contexts["jax"].run(variant="fused").losses
    return Rosetta(spec, sections, versions, costs)


# --- formatting numbers -------------------------------------------------------------------------

def _number(x: float, kind: str) -> str:
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and (kind == "exact" or x == 0):
        return str(int(x))
    return f"{x:.{DIGITS}g}"


def _value(v: Any, kind: str) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(int(i)) for i in v) + ")"
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return _number(float(a), kind)
    return "[" + ", ".join(_value(x, kind) for x in a) + "]"


def _spread(row: Row) -> str | None:
    s = row.spread()
    return None if s is None else ("0" if s == 0 else f"{s:.2g}")


def _tokens_tolerances(rosetta: Rosetta) -> list[float]:
    """The tolerance of each number the docs print, in the order the renderers print them."""
    out = []
    for section in rosetta.sections:
        for row in section.rows:
            for b in ORDER:
                v = row.values[b]
                if not isinstance(v, str):
                    out += [row.tolerance] * len(_NUMBER.findall(_value(v, row.kind)))
            if _spread(row) is not None:
                out.append(2 * row.tolerance)
    return out


# --- Markdown -----------------------------------------------------------------------------------

GENERATED = ("Generated by `softmax-rosetta rosetta` from the backends' code (tools/rosetta.py); "
             "don't edit it by hand. `softmax-rosetta rosetta --check` (and tests/test_rosetta.py) fail when it is stale.")


def _intro(rosetta: Rosetta) -> list[str]:
    spec = rosetta.spec
    return [
        "One lesson, softmax classification with `nn.Linear(4, 3)` trained by SGD, written three times: "
        "NumPy, PyTorch, and JAX with Flax NNX and Optax. Each section shows one concept in the three "
        "backends, cut from their files (each block links to its file and line), says what differs "
        "and why, and ends with the numbers the three compute.",
        f"The numbers: spec `{spec.name}` ({spec.num_samples} samples, {spec.num_features} features, "
        f"{spec.num_classes} classes, lr {spec.lr:g}, epochs 0 to {spec.epochs}), {DTYPE}, on the CPU. "
        f"z is the initial model's logits on the spec's data, computed once in NumPy and given to every "
        f"backend; y its labels. Each number has {DIGITS} significant digits; the last column is the "
        f"largest difference between two backends, before rounding.",
    ]


def _versions_line(rosetta: Rosetta) -> str:
    return "Computed with " + ", ".join(f"{k} {v}" for k, v in rosetta.versions.items()) + "."


def render_markdown(rosetta: Rosetta) -> str:
    out = ["# The lesson side by side: NumPy, PyTorch, JAX", "", f"<!-- {GENERATED} -->", ""]
    out += [p + "\n" for p in _intro(rosetta)]
    out += [_region("env", _versions_line(rosetta) if rosetta.numbers else ""), "",
            "The same page with the three backends in three columns, syntax highlighting and the loss "
            "plot: [rosetta.html](rosetta.html) (one file, nothing to download).", ""]
    out += ["Contents:", ""]
    out += [f"{i}. [{s.concept.title}](#{_md_anchor(i, s.concept.title)})" for i, s in enumerate(rosetta.sections, 1)]
    out.append("")
    for i, s in enumerate(rosetta.sections, 1):
        c = s.concept
        out += [f"## {i}. {c.title}", ""]
        if c.intro:
            out += [c.intro, ""]
        for b in ORDER:
            out += [f"### {TITLES[b]}", ""]
            for block in s.blocks[b]:
                where = (f"lines {block.line} to {block.end_line}, in `{block.name}`" if block.part
                         else f"line {block.line}: `{block.name}`")
                out += [f"[`{block.path}` {where}]({block.link})", "",
                        "```python", block.code, "```", ""]
        out += [f"**What differs.** {c.note}", ""]
        out += [f"**The numbers** (spec {rosetta.spec.name}, {DTYPE}):", ""]
        table = ["| | " + " | ".join(SHORT[b] for b in ORDER) + " | largest difference |",
                 "|---|" + "---|" * len(ORDER) + "---|"]
        for row in s.rows:
            cells = [row.values[b] if isinstance(row.values[b], str) else f"`{_value(row.values[b], row.kind)}`"
                     for b in ORDER]
            spread = _spread(row)
            table.append(f"| {row.label} | " + " | ".join(cells) + f" | {'`' + spread + '`' if spread is not None else ''} |")
        out += [_region("numbers", "\n".join(table) if rosetta.numbers else NOT_COMPUTED), ""]
    return "\n".join(out).rstrip("\n") + "\n"


NOT_COMPUTED = "(not computed: built with numbers=False)"


def _region(kind: str, content: str) -> str:
    """A part that the staleness check compares by its numbers (numbers) or not at all (env, plot)."""
    return f"<!-- {kind} -->\n{content}\n<!-- /{kind} -->"


def _md_anchor(i: int, title: str) -> str:
    """GitHub's heading anchor for '## {i}. {title}'."""
    text = f"{i}. {title}".lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-code: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 14px 40px; color: var(--fg); background: #fff;
       font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
header { max-width: 1180px; }
h1 { font-size: 24px; margin: 18px 0 8px; }
h2 { font-size: 19px; margin: 0 0 4px; padding-top: 14px; border-top: 2px solid var(--line); }
h2 .num { color: var(--muted); font-weight: normal; margin-right: 4px; }
h2 .top { float: right; font-size: 12.5px; font-weight: normal; margin-top: 4px; }
p { margin: 6px 0; max-width: 1180px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.generated { color: var(--muted); font-size: 12.5px; }
nav ol { columns: 3; column-gap: 28px; margin: 8px 0 12px; padding-left: 22px; font-size: 13px; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; }
section { margin: 22px 0 10px; }
.intro { color: var(--muted); }
.cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; margin: 10px 0; }
.col { min-width: 0; }
.col h3 { font-size: 14px; margin: 0 0 4px; padding: 3px 8px; border-radius: 4px; color: #fff; }
.col.numpy h3 { background: #4d77cf; }
.col.torch h3 { background: #d04a2b; }
.col.jax h3 { background: #2f8a57; }
.ref { font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; margin: 8px 0 2px;
       overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ref .what { color: var(--muted); }
.highlight { background: var(--bg-code); border: 1px solid var(--line); border-radius: 6px; }
.highlight pre { margin: 0; padding: 6px 8px; overflow-x: auto;
                 font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; tab-size: 4; }
.highlight .linenos { color: #8c959f; user-select: none; padding-right: 6px; }
p code, li code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
                  background: rgba(175, 184, 193, 0.25); padding: 0 3px; border-radius: 4px; }
.wrap-toggle { position: fixed; top: 8px; right: 12px; z-index: 1; font-size: 12.5px; background: #fff;
               border: 1px solid var(--line); border-radius: 6px; padding: 3px 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
body:has(#wrap:checked) .highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.note { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 6px 10px; margin: 8px 0; max-width: none; }
table.numbers { border-collapse: collapse; margin: 6px 0; font-size: 12.5px; width: 100%; table-layout: fixed; }
table.numbers th, table.numbers td { border: 1px solid var(--line); padding: 3px 6px; text-align: left;
                                     vertical-align: top; }
table.numbers thead th { background: var(--bg-code); }
table.numbers th.label { width: 21%; font-weight: normal; }
table.numbers th.spread, table.numbers td.spread { width: 11%; }
table.numbers code { font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
"""


def _highlight(code: str, line: int) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError as exc:
        raise RosettaError(f"rosetta: the HTML page needs pygments ({exc}): pip install pygments") from None
    return highlight(code, PythonLexer(), HtmlFormatter(linenos="inline", linenostart=line, cssclass="highlight", wrapcode=True))


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter
    return HtmlFormatter(style="default").get_style_defs(".highlight")


def loss_plot_png(rosetta: Rosetta) -> bytes | None:
    """The three backends' cost per epoch on the spec, overlaid, and their differences from NumPy's."""
    if not rosetta.costs:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RosettaError(f"rosetta: the HTML page's plot needs matplotlib ({exc}): pip install 'softmax-rosetta[plot]'") from None
    spec = rosetta.spec
    styles = {"numpy": dict(color="#4d77cf", linestyle="-", linewidth=3.2, alpha=0.55),
              "torch": dict(color="#d04a2b", linestyle="--", linewidth=1.6),
              "jax": dict(color="#2f8a57", linestyle=":", linewidth=2.0),
              "jax fused": dict(color="#7a4fb0", linestyle=(0, (1, 3)), linewidth=1.2)}
    fig, (ax, dev) = plt.subplots(1, 2, figsize=(11.5, 3.4), dpi=100, gridspec_kw={"width_ratios": [1, 1]})
    names = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX", "jax fused": "JAX, fused loop"}
    for key, costs in rosetta.costs.items():
        ax.plot(np.arange(costs.size), costs, label=names.get(key, key), **styles.get(key, {}))
    if spec.expected_costs:
        ax.plot(spec.expected_epochs, spec.expected_costs, "kx", markersize=7, label="printed by the lesson")
    ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title=f"Cost per epoch, spec {spec.name}, {DTYPE}")
    ax.legend(fontsize=8)
    ref = rosetta.costs["numpy"].astype(np.float64)
    for key, costs in rosetta.costs.items():
        if key == "numpy":
            continue
        diff = np.abs(costs.astype(np.float64) - ref)
        dev.plot(np.arange(diff.size), np.where(diff > 0, diff, np.nan), label=names.get(key, key),
                 **{**styles.get(key, {}), "linestyle": "none", "marker": ".", "markersize": 2})
    tol = spec.tolerance(DTYPE).cost
    dev.axhline(tol, color="gray", linestyle="-.", linewidth=1)
    dev.annotate(f"tolerance between two backends ({tol:g})", (0, tol), xytext=(4, -11), textcoords="offset points",
                 fontsize=8, color="dimgray")
    dev.set_yscale("log")
    dev.set(xlabel="epoch", ylabel="|cost - NumPy's cost|", title="How far from NumPy (gaps: exactly equal)")
    dev.legend(fontsize=8, markerscale=5, loc="lower right")
    for a in (ax, dev):
        a.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def render_html(rosetta: Rosetta) -> str:
    e = html.escape
    spec = rosetta.spec
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>The lesson side by side: NumPy, PyTorch, JAX</title>",
           f"<!-- {e(GENERATED)} -->",
           "<style>", CSS.strip(), "</style>", _region("pygments", f"<style>\n{_pygments_css().strip()}\n</style>"),
           "</head>", "<body>", "<header>",
           '<label class="wrap-toggle"><input type="checkbox" id="wrap"> wrap long code lines</label>',
           "<h1>The lesson side by side: NumPy, PyTorch, JAX</h1>"]
    out += [f"<p>{_inline_code(e(p))}</p>" for p in _intro(rosetta)]
    out.append(f'<p class="generated">{_inline_code(e(GENERATED))}</p>')
    out.append(_region("env", f'<p class="generated">{e(_versions_line(rosetta))}</p>' if rosetta.numbers else ""))
    out.append('<nav id="contents"><ol>')
    out += [f'<li><a href="#{s.concept.key}">{e(s.concept.title)}</a></li>' for s in rosetta.sections]
    out += ["</ol></nav>", "</header>"]
    if rosetta.plot is None:
        rosetta.plot = loss_plot_png(rosetta)
    png = rosetta.plot
    figure = ""
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        figure = "\n".join([
            "<figure>", f'<img alt="The cost per epoch of the three backends on spec {e(spec.name)}, overlaid, '
            f'and their distance from NumPy\'s" src="data:image/png;base64,{data}">',
            "<figcaption>The whole training run in every backend: the curves lie on top of each other (the "
            "band is the cost zigzagging up and down from one epoch to the next); the "
            "right panel shows by how much they differ, epoch by epoch.</figcaption>", "</figure>"])
    out.append(_region("plot", figure))
    for i, s in enumerate(rosetta.sections, 1):
        c = s.concept
        out += [f'<section id="{c.key}">',
                f'<h2><span class="num">{i}.</span> {e(c.title)}<a class="top" href="#contents">contents</a></h2>']
        if c.intro:
            out.append(f'<p class="intro">{_inline_code(e(c.intro))}</p>')
        out.append('<div class="cols">')
        for b in ORDER:
            out += [f'<div class="col {b}">', f"<h3>{e(TITLES[b])}</h3>"]
            for block in s.blocks[b]:
                what = f"in {block.name}" if block.part else block.name
                out.append(f'<div class="ref"><a href="{e(block.link)}">{e(block.path)}:{block.line}</a> '
                           f'<span class="what">{e(what)}</span></div>')
                out.append(_highlight(block.code, block.line).rstrip("\n"))
            out.append("</div>")
        out.append("</div>")
        out.append(f'<p class="note"><b>What differs.</b> {_inline_code(e(c.note))}</p>')
        table = ['<table class="numbers">',
                 f'<thead><tr><th class="label">spec {e(spec.name)}, {DTYPE}</th>'
                 + "".join(f"<th>{e(SHORT[b])}</th>" for b in ORDER)
                 + '<th class="spread">largest difference</th></tr></thead>', "<tbody>"]
        for row in s.rows:
            cells = "".join(f"<td>{e(row.values[b])}</td>" if isinstance(row.values[b], str)
                            else f'<td><code class="num">{_value(row.values[b], row.kind)}</code></td>' for b in ORDER)
            spread = _spread(row)
            spread_cell = f'<code class="num">{spread}</code>' if spread is not None else ""
            table.append(f'<tr><th class="label">{e(row.label)}</th>{cells}<td class="spread">{spread_cell}</td></tr>')
        table += ["</tbody>", "</table>"]
        out.append(_region("numbers", "\n".join(table) if rosetta.numbers else e(NOT_COMPUTED)))
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _inline_code(escaped: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


# --- writing and checking -----------------------------------------------------------------------

def render(rosetta: Rosetta) -> dict[str, str]:
    return {"rosetta.md": render_markdown(rosetta), "rosetta.html": render_html(rosetta)}


def write(out_dir: str | os.PathLike = "docs", rosetta: Rosetta | None = None) -> list[Path]:
    """Generate both docs into out_dir; returns their paths."""
    rosetta = build() if rosetta is None else rosetta
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render(rosetta).items():
        path = out / name
        atomic_write(path, text)
        paths.append(path)
    return paths


_REGION = re.compile(r"<!-- (numbers|env|plot|pygments) -->.*?<!-- /\1 -->", re.S)
# Pygments' markup (and its stylesheet, a region) may change with its version; the code's text may not.
_HIGHLIGHTED = re.compile(r'(<div class="highlight"><pre>)(.*?)(</pre></div>)', re.S)
_SPAN = re.compile(r'`[^`\n]*`|<code class="num">.*?</code>')
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf)|nan")


def _segments(text: str) -> list[tuple[str | None, int, str]]:
    """The text cut into (kind, offset, text): kind None for text compared exactly, else the
    region's kind: "numbers" (compared number by number), "env", "plot", "pygments" (not compared)."""
    out, pos = [], 0
    for m in _REGION.finditer(text):
        out += [(None, pos, text[pos:m.start()]), (m[1], m.start(), m.group())]
        pos = m.end()
    return out + [(None, pos, text[pos:])]


def split_numbers(region: str) -> tuple[str, list[tuple[str, int]]]:
    """(the region with every printed number replaced by '#', [(number, offset in region)]).

    The numbers are those inside code spans (labels and text cells are outside them and are
    compared as text).
    """
    numbers: list[tuple[str, int]] = []

    def span(m: re.Match) -> str:
        numbers.extend((n.group(), m.start() + n.start()) for n in _NUMBER.finditer(m.group()))
        return _NUMBER.sub("#", m.group())

    return _SPAN.sub(span, region), numbers


def _code_text(text: str) -> str:
    """Highlighted code blocks reduced to their text (line numbers included), lines kept."""
    return _HIGHLIGHTED.sub(lambda m: m[1] + html.unescape(re.sub(r"<[^>\n]*>", "", m[2])) + m[3], text)


def _unit(token: str) -> float:
    """One unit in the last printed digit (0 for an integer)."""
    if token in ("nan", "inf", "-inf") or not re.search(r"[.e]", token):
        return 0.0
    mantissa, _, exponent = token.lstrip("-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _same_number(a: str, b: str, tolerance: float) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= tolerance + _unit(a) + _unit(b)


def compare_text(name: str, committed: str, fresh: str, tolerances: Sequence[float] | None) -> str | None:
    """Why the committed text is stale against the fresh one, or None when it is current.

    Text outside the regions must be equal; in the numbers regions, the text around the numbers
    must be equal and each number within its tolerance (``tolerances``, one per number the fresh
    text prints) plus one unit in the last printed digit of each. tolerances=None compares the
    text outside the regions only (the code, links and notes).
    """
    def line_at(offset: int) -> int:
        return committed.count("\n", 0, offset) + 1

    def differs(offset: int, a: str, b: str) -> str:
        la, lb = a.split("\n"), b.split("\n")
        i = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        was = la[i] if i < len(la) else "(end of the part)"
        now = lb[i] if i < len(lb) else "(end of the part)"
        line = line_at(offset + sum(len(x) + 1 for x in la[:i]))
        return (f"{name} is stale: line {line} differs from the code now "
                f"(committed: {_clip(was)!r}; generated now: {_clip(now)!r})")

    got: list[tuple[str, int]] = []
    want: list[str] = []
    a, b = _segments(committed), _segments(fresh)
    if [k for k, _, _ in a] != [k for k, _, _ in b]:
        return f"{name} is stale: its sections are not the ones the code gives now"
    for (kind, offset, x), (_, _, y) in zip(a, b):
        if kind is None:
            x, y = _code_text(x), _code_text(y)
            if x != y:
                return differs(offset, x, y)
        elif kind == "numbers" and tolerances is not None:
            (sx, nx), (sy, ny) = split_numbers(x), split_numbers(y)
            if sx != sy:
                return differs(offset, sx, sy)
            got += [(n, offset + at) for n, at in nx]
            want += [n for n, _ in ny]
    if tolerances is None:
        return None
    if len(want) != len(tolerances):
        raise RosettaError(f"rosetta: internal error: {len(want)} numbers printed, {len(tolerances)} tolerances")
    for (x, at), y, tol in zip(got, want, tolerances):
        if not _same_number(x, y, tol):
            return (f"{name} is stale: line {line_at(at)} shows {x}, the backends now give {y} "
                    f"(allowed: {tol:g} + one unit of the last digit)")
    return None


def _clip(s: str, n: int = 100) -> str:
    return s if len(s) <= n else s[:n] + "..."


def check(out_dir: str | os.PathLike = "docs", rosetta: Rosetta | None = None) -> list[str]:
    """Why each doc in out_dir is stale ([] when both are current).

    rosetta: a fresh ``build()`` (made here when None). Built with numbers=False, only the code
    and the text are checked.
    """
    rosetta = build() if rosetta is None else rosetta
    tolerances = _tokens_tolerances(rosetta) if rosetta.numbers else None
    problems = []
    for name, fresh in render(rosetta).items():
        path = Path(out_dir) / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        why = compare_text(str(path), path.read_text(encoding="utf-8"), fresh, tolerances)
        if why:
            problems.append(why)
    return problems
