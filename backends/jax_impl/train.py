"""The lesson's training loop in JAX: a jitted step with nnx.value_and_grad and optax.

The loop is the lesson's Python loop, one ``nnx.jit`` step per batch; ``fast.train_fused``
runs the same steps with all epochs in one compiled program. The optimizer is
torch.optim.SGD's rule written with optax (``sgd`` below), through nnx.Optimizer.
"""

from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from . import functional
from .model import init_model, weight_and_bias


@cache
def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD as an optax GradientTransformation.

    torch's rule, for each parameter p with gradient g, at step t = 0, 1, ...:

        g   <- g + weight_decay * p
        buf <- g if t = 0, else momentum * buf + (1 - dampening) * g     (when momentum != 0)
        g   <- g + momentum * buf if nesterov, else buf                  (when momentum != 0)
        p   <- p - lr * g

    - ``optax.sgd(lr, momentum, nesterov)`` is this rule when dampening = 0: optax.trace keeps
      buf <- g + momentum * buf from a zero buffer, so its first buffer is g as torch's is, and
      its nesterov update g + momentum * buf is torch's.
    - weight_decay: torch adds it to the gradient before the momentum, so
      ``optax.add_decayed_weights`` goes first in the chain (optax.sgd itself has none).
    - dampening != 0 is where optax and torch differ: optax.trace has no dampening, and
      optax.ema (buf <- m buf + (1 - m) g) both ties the factor to the momentum and starts from
      zero where torch starts from the undamped g. ``dampened_trace`` writes torch's buffer as a
      small GradientTransformation, followed by ``optax.scale_by_learning_rate``. (torch
      refuses nesterov with dampening, and so does the spec.)

    Cached: the same options give the same transformation object (optax's are stateless), so
    the graph definition nnx.split makes of an optimizer is equal from run to run and jit's
    cache for ``fast.train_fused``'s program hits, where fresh closures would recompile it on
    every run.
    """
    if dampening == 0:
        step = optax.sgd(lr, momentum=momentum or None, nesterov=nesterov)
    else:
        step = optax.chain(dampened_trace(momentum, dampening), optax.scale_by_learning_rate(lr))
    if weight_decay:
        step = optax.chain(optax.add_decayed_weights(weight_decay), step)
    return step


class DampenedTraceState(NamedTuple):
    steps: jax.Array  # steps taken so far, int32
    trace: optax.Updates  # the momentum buffer, one per parameter


def dampened_trace(momentum, dampening):
    """torch's momentum buffer with dampening: buf <- g on the first step, then
    buf <- momentum * buf + (1 - dampening) * g. The update it passes on is buf."""

    def init_fn(params):
        return DampenedTraceState(steps=jnp.zeros([], jnp.int32), trace=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        first = state.steps == 0
        trace = jax.tree.map(
            lambda g, buf: jnp.where(first, g, momentum * buf + (1 - dampening) * g), updates, state.trace
        )
        return trace, DampenedTraceState(steps=optax.safe_increment(state.steps), trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(model, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The lesson's optimizer: ``sgd``'s optax transformation through nnx.Optimizer, which
    keeps its state next to the model's parameters (``wrt=nnx.Param``: only those are trained)."""
    return nnx.Optimizer(model, sgd(lr, momentum, dampening, nesterov, weight_decay), wrt=nnx.Param)


def loss_fn(model, x, y):
    """The cost: the mean cross-entropy of the model's logits."""
    prediction = model(x)
    return optax.softmax_cross_entropy_with_integer_labels(prediction, y).mean()


@nnx.jit
def train_step(model, optimizer, x, y):
    """One SGD step on one batch; returns the cost before the step.

    ``nnx.value_and_grad`` returns the gradients as values (an nnx.State shaped like the
    model's parameters), and ``optimizer.update`` writes the new parameters into the model.
    ``nnx.jit`` compiles the step once per shape and carries the model's and the optimizer's
    state in and out of the compiled call.
    """
    cost, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)  # p <- p + sgd's update, written into the model's Params
    return cost


@nnx.jit
def _step_values(model, x, y):
    """The step's intermediates, from the parameters before it: ``loss_fn``'s value and gradients
    (``nnx.value_and_grad``, as ``train_step``), the logits and what the lesson computes of them."""
    grads = nnx.grad(loss_fn)(model, x, y)
    z = model(x)
    return {
        "logits": z,
        "softmax": functional.softmax(z, axis=1),
        "log_softmax": functional.log_softmax(z, axis=1),
        "loss:onehot": functional.cross_entropy_onehot(z, y),
        "loss:nll": functional.cross_entropy_nll(z, y),
        "grad_weight": grads["linear"]["kernel"][...].T,
        "grad_bias": grads["linear"]["bias"][...],
    }


def trace_step(model, optimizer, x, y):
    """``train_step`` with its intermediates kept, for ``softmax-rosetta diverge``.

    XLA compiles ``train_step`` into one program and fuses inside it; asking that program for its
    intermediates too makes another program, whose float64 bits measured differ from the lesson
    loop's. So the step itself is ``train_step`` (its cost and new parameters are the loop's
    bits), and the intermediates are computed beside it by ``_step_values``, one more compiled
    program on the same inputs: JAX's values for them, which inside ``train_step``'s fusion may
    round otherwise. Returns {name: array}, the names of ``softmax_rosetta.trace.QUANTITIES``.
    """
    values = _step_values(model, x, y)
    cost = train_step(model, optimizer, x, y)
    weight, bias = weight_and_bias(model)
    return {**values, "loss:fused": cost, "weight": weight, "bias": bias}


def train(
    x,
    y,
    weight,
    bias,
    lr,
    epochs,
    log_every=0,
    log=None,
    *,
    batches=None,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
):
    """Epochs 0..epochs inclusive; each takes one SGD step per batch, the lesson's full batch by default.

    x (N, D), y (N,), weight (C, D), bias (C,) are jax arrays on one device. ``batches(epoch)``
    lists each step's rows as index arrays (``softmax_rosetta.data.Batches``: the same rows in the
    same order in every backend); None is full batch.
    momentum, dampening, nesterov, weight_decay: torch.optim.SGD's (see ``sgd``).

    An epoch's cost is the mean loss over the training rows, each batch's loss taken before
    its step: sum over batches of cost_b * (B_b / N). Full batch, that is the lesson's cost.
    JAX arrays are immutable, so the costs are collected in a list and stacked at the end.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)); a run whose cost turns inf or nan
    stops after that epoch, and its costs end there.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    costs = []
    for epoch in range(epochs + 1):
        epoch_cost = 0.0
        for rows in batches(epoch) if batches is not None else [slice(None)]:
            xb, yb = x[rows], y[rows]
            cost = train_step(model, optimizer, xb, yb)
            epoch_cost = epoch_cost + cost * (xb.shape[0] / n)  # full batch: * 1.0, exactly the cost
        costs.append(epoch_cost)
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(epoch_cost))
        if not jnp.isfinite(epoch_cost):  # diverged: stop here (softmax_rosetta.backend reports it)
            break
    return jnp.stack(costs), *weight_and_bias(model)


def sgd_steps(param, gradients, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The optimizer alone: ``sgd`` on one parameter, one step per gradient; the parameter after them."""
    tx = sgd(lr, momentum, dampening, nesterov, weight_decay)
    state = tx.init(param)
    for g in gradients:
        updates, state = tx.update(g, state, param)
        param = optax.apply_updates(param, updates)
    return param
