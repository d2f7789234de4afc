"""The lesson's training loop in JAX: a jitted step with nnx.value_and_grad and optax.

Two ways to run it, with the same trajectory:
- ``train``: the lesson's Python loop, one jitted step per batch;
- ``train_fused``: all epochs in one compiled program (jax.jit around lax.scan over the epochs,
  and in each epoch a lax.scan over its batches), so Python and dispatch overhead are paid
  once instead of once per step.

The optimizer is torch.optim.SGD's rule written with optax (``sgd`` below).
"""

from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from .model import init_model, weight_and_bias


@lru_cache(maxsize=None)
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
    cache for ``_run_epochs`` hits, where fresh closures would recompile every run (0.2 s).
    """
    if dampening == 0:
        step = optax.sgd(lr, momentum=momentum or None, nesterov=nesterov)
    else:
        step = optax.chain(dampened_trace(momentum, dampening), optax.scale_by_learning_rate(lr))
    if weight_decay:
        step = optax.chain(optax.add_decayed_weights(weight_decay), step)
    return step


class DampenedTraceState(NamedTuple):
    count: jax.Array        # steps taken so far, int32
    trace: optax.Updates    # the momentum buffer, one per parameter


def dampened_trace(momentum, dampening):
    """torch's momentum buffer with dampening: buf <- g on the first step, then
    buf <- momentum * buf + (1 - dampening) * g. The update it passes on is buf."""

    def init_fn(params):
        return DampenedTraceState(count=jnp.zeros([], jnp.int32), trace=optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        first = state.count == 0
        trace = jax.tree.map(lambda g, buf: jnp.where(first, g, momentum * buf + (1 - dampening) * g),
                             updates, state.trace)
        return trace, DampenedTraceState(count=optax.safe_increment(state.count), trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


def loss_fn(model, x, y):
    """The mean cross-entropy of the model's logits."""
    prediction = model(x)
    return optax.softmax_cross_entropy_with_integer_labels(prediction, y).mean()


def _step(model, optimizer, x, y):
    cost, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)  # p <- p + sgd's update, written into the model's Params
    return cost


train_step = nnx.jit(_step)


def train(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
          momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """Epochs 0..epochs inclusive; each takes one SGD step per batch, the lesson's full batch by default.

    ``batches(epoch)`` lists each step's rows as index arrays (``softmax_rosetta.data.Batches``: the same
    rows in the same order in every backend); None is full batch. An epoch's cost is the mean
    loss over the training rows, each batch's loss taken before its step: sum over batches of
    cost_b * (B_b / N). momentum, dampening, nesterov, weight_decay: torch.optim.SGD's (see ``sgd``).

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = nnx.Optimizer(model, sgd(lr, momentum, dampening, nesterov, weight_decay), wrt=nnx.Param)
    costs = []
    for epoch in range(epochs + 1):
        epoch_cost = 0.0
        for rows in (batches(epoch) if batches is not None else [slice(None)]):
            xb, yb = x[rows], y[rows]
            cost = train_step(model, optimizer, xb, yb)
            epoch_cost = epoch_cost + cost * (xb.shape[0] / n)  # full batch: * 1.0, exactly the cost
        costs.append(epoch_cost)
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(epoch_cost))
        if not jnp.isfinite(epoch_cost):  # diverged: stop here (softmax_rosetta.backend reports it)
            break
    return jnp.stack(costs), *weight_and_bias(model)


@partial(jax.jit, static_argnums=(0, 4, 5))
def _run_epochs(graphdef, state, x, y, batch_size, num_epochs, orders):
    """lax.scan over the epochs; in each, lax.scan over its full batches, then the shorter last one.

    orders: (num_epochs, N) each epoch's row order, or None to keep the rows in order.
    """
    n = x.shape[0]
    num_full, rest = divmod(n, batch_size)

    def one_batch(carry, batch):
        state, epoch_cost = carry
        xb, yb = batch
        model, optimizer = nnx.merge(graphdef, state)
        cost = _step(model, optimizer, xb, yb)
        return (nnx.state((model, optimizer)), epoch_cost + cost * (xb.shape[0] / n)), None

    def run_epoch(state, rows):
        xs, ys = (x, y) if rows is None else (x[rows], y[rows])   # this epoch's order
        cut = num_full * batch_size
        full = (xs[:cut].reshape(num_full, batch_size, -1), ys[:cut].reshape(num_full, batch_size))
        carry, _ = jax.lax.scan(one_batch, (state, jnp.zeros((), x.dtype)), full)
        if rest:
            carry, _ = one_batch(carry, (xs[cut:], ys[cut:]))
        return carry

    def skip_epoch(state, rows):
        return state, jnp.array(jnp.nan, x.dtype)

    def one_epoch(carry, rows):
        # A scan can't stop early: once a cost is inf or nan, lax.cond skips every later
        # epoch's work, and train_fused cuts the costs after the first non-finite one.
        state, finite_so_far = carry
        state, cost = jax.lax.cond(finite_so_far, run_epoch, skip_epoch, state, rows)
        return (state, finite_so_far & jnp.isfinite(cost)), cost

    (state, _), costs = jax.lax.scan(one_epoch, (state, jnp.array(True)), orders, length=num_epochs)
    return state, costs


def train_fused(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
                momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """The same run as ``train`` as one compiled program: jit around lax.scan over the epochs.

    A compiled loop can't call ``batches(epoch)``; it takes the same rows as arrays instead:
    each epoch's order from ``batches.orders`` (when shuffled), cut into ``batches.batch_size``
    pieces, the last one shorter, just as ``batches(epoch)`` cuts it.

    NNX objects can't cross a jit boundary as such: nnx.split turns model and optimizer
    into a static graph definition and a pytree of arrays, nnx.merge rebuilds them inside.
    The costs come back all at once, so ``log`` is called after the run.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = nnx.Optimizer(model, sgd(lr, momentum, dampening, nesterov, weight_decay), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    batch_size = n if batches is None else min(batches.batch_size, n)
    orders = batches.orders(epochs) if batches is not None and batches.shuffle else None
    state, costs = _run_epochs(graphdef, state, x, y, batch_size, epochs + 1, orders)
    nnx.update((model, optimizer), state)
    return scanned_costs(costs, log_every, log), *weight_and_bias(model)


def scanned_costs(costs, log_every=0, log=None):
    """The costs a scan over all epochs returned, cut after the first non-finite one (the run
    stopped there: a scan can't stop early, so the later epochs did nothing), then logged."""
    finite = jnp.isfinite(costs)
    if not finite.all():
        costs = costs[:int(jnp.argmin(finite)) + 1]
    if log is not None and log_every:
        for epoch in range(0, len(costs), log_every):
            log(epoch, float(costs[epoch]))
    return costs
