"""The lesson's loop made fast in JAX: the whole run as one compiled program.

``train.train`` is the lesson as written: an nnx.Module, nnx.value_and_grad, optax through
nnx.Optimizer, and a Python loop calling one jitted step per batch. Two loops here give the
same trajectory with the Python and dispatch overhead paid once instead of once per step:

- ``train_fused`` keeps the lesson's NNX objects and every option of ``train.train``: jax.jit
  around a lax.scan over the epochs, and in each epoch a lax.scan over its batches, with
  nnx.split / nnx.merge carrying the model and the optimizer across the jit boundary;
- ``train_fast`` drops them, for full-batch plain SGD: the parameters are two jnp arrays, W
  kept (C, D) as torch stores it, so nothing is transposed at the boundary or inside the loop
  (the two matmuls are ``lax.dot_general`` contracting D (x W^T) and N ((p - Y)^T x), with
  ``Precision.HIGHEST``: full float32 on a GPU); the gradient is written out, as in the NumPy
  backend, instead of traced by ``jax.grad``; ``jax.jit`` around ``lax.scan`` over the epochs.
  It has no mini-batches, momentum, dampening, Nesterov or weight decay; asking for them is a
  ``BackendError`` naming the option.

Both return the costs all at once, so ``log`` is called after the run. A run whose cost turns
inf or nan stops there (its costs end with that epoch's), as ``train.train`` does.
"""

from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from softmax_rosetta.checks import check_plain_sgd

from .model import init_model, weight_and_bias
from .train import loss_fn, make_optimizer

PRECISION = lax.Precision.HIGHEST


# --- the lesson's NNX loop, compiled whole ------------------------------------------------------
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
        # train.train_step's body, without its nnx.jit: this whole function is compiled already
        cost, grads = nnx.value_and_grad(loss_fn)(model, xb, yb)
        optimizer.update(model, grads)
        return (nnx.state((model, optimizer)), epoch_cost + cost * (xb.shape[0] / n)), None

    def run_epoch(state, rows):
        xs, ys = (x, y) if rows is None else (x[rows], y[rows])  # this epoch's order
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


def train_fused(
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
    """The same run as ``train.train`` as one compiled program: jit around lax.scan over the epochs.

    A compiled loop can't call ``batches(epoch)``; it takes the same rows as arrays instead:
    each epoch's order from ``batches.orders`` (when shuffled), cut into ``batches.batch_size``
    pieces, the last one shorter, just as ``batches(epoch)`` cuts it.

    NNX objects can't cross a jit boundary as such: nnx.split turns model and optimizer
    into a static graph definition and a pytree of arrays, nnx.merge rebuilds them inside.
    The costs come back all at once, so ``log`` is called after the run.
    """
    n = x.shape[0]
    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
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
        costs = costs[: int(jnp.argmin(finite)) + 1]
    if log is not None and log_every:
        for epoch in range(0, len(costs), log_every):
            log(epoch, float(costs[epoch]))
    return costs


# --- plain arrays, the gradient written out -----------------------------------------------------
# Below this many elements of X the softmax runs on the transposed logits (see ``run``).
CLASSES_FIRST_BELOW = 1 << 20


@partial(jax.jit, static_argnames=("steps", "classes_first"))
def run(x, y, weight, bias, lr, steps, classes_first=False):
    """``steps`` epochs of full-batch SGD from (weight (C, D), bias (C,)); one compiled program.

    Each epoch, with z = x W^T + b, log p = log_softmax(z), Y = one_hot(y):

        cost  = -mean over rows of log p[y]
        W    <- W - (lr / N) (p - Y)^T x          b <- b - (lr / N) sum over rows of (p - Y)

    classes_first: do the softmax on z^T (C, N) instead of z (N, C). XLA's CPU code reduces
    over 10 classes along the minor axis slowly, and along the major one as vector ops across
    rows, so a small X (the digits) is faster this way. On a large X the other way round is
    faster: the gradient's dot then reads (p - Y) as it was written. ``train_fast`` picks by
    the size of X (docs/benchmarks.md has the measurements).

    Returns (costs (steps,), weight, bias). ``steps`` is static: each count compiles once.
    """
    n, c = x.shape[0], weight.shape[0]
    # On a large X, XLA's CPU dot computes x W^T faster with W's rows padded with zeros to a
    # multiple of 16 (100,000 x 784 -> 10: 12.9 ms instead of 15.5, the extra columns dropped
    # after); on the digits it is slower (docs/benchmarks.md)
    padded = c if classes_first else -(-c // 16) * 16
    y_one_hot = jax.nn.one_hot(y, c, dtype=x.dtype)
    if classes_first:
        y_one_hot = y_one_hot.T
    axis = 0 if classes_first else 1  # the classes' axis
    scale = (lr / n).astype(x.dtype)

    def epoch(carry, _):
        (w, b), finite_so_far = carry
        w_rows = jnp.pad(w, ((0, padded - c), (0, 0)))  # W, or W and zero rows
        z = lax.dot_general(x, w_rows, (((1,), (1,)), ((), ())), precision=PRECISION)[:, :c]  # x W^T (N, C)
        z = z.T + b[:, None] if classes_first else z + b
        log_p = jax.nn.log_softmax(z, axis=axis)
        cost = -jnp.sum(log_p * y_one_hot) / n
        dz = jnp.exp(log_p) - y_one_hot  # p - Y
        rows = 1 if classes_first else 0
        grad_w = lax.dot_general(dz, x, (((rows,), (0,)), ((), ())), precision=PRECISION)  # (p - Y)^T x
        # a scan can't stop early: after a non-finite cost the parameters stay where that
        # epoch's step left them, as if the loop had stopped there (train_fast cuts the costs)
        w = jnp.where(finite_so_far, w - scale * grad_w, w)
        b = jnp.where(finite_so_far, b - scale * dz.sum(axis=rows), b)
        return ((w, b), finite_so_far & jnp.isfinite(cost)), cost

    ((w, b), _), costs = lax.scan(epoch, ((weight, bias), jnp.array(True)), None, length=steps)
    return costs, w, b


def train_fast(
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
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int, weight (C, D), bias (C,): jax arrays on one device.
    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    costs, w, b = run(
        x, y, weight, bias, jnp.asarray(lr, dtype=x.dtype), epochs + 1, classes_first=x.size < CLASSES_FIRST_BELOW
    )
    return scanned_costs(costs, log_every, log), w, b
