"""The lesson's loop made fast in JAX: the whole run as one compiled program on plain arrays.

``train.train`` is the lesson as written (an nnx.Module, nnx.value_and_grad, optax through
nnx.Optimizer, one jitted step per epoch); ``train.train_fused`` compiles all epochs into one
program but keeps the NNX objects (nnx.split / merge around lax.scan). This one drops them:

- the parameters are two jnp arrays, W kept (C, D) as torch stores it, so nothing is
  transposed at the boundary or inside the loop: the two matmuls are ``lax.dot_general``
  contracting D (x W^T) and N ((p - Y)^T x), with ``Precision.HIGHEST`` (full float32 on a GPU);
- the gradient is written out, as in the NumPy backend, instead of traced by ``jax.grad``;
- ``jax.jit`` around ``lax.scan`` over the epochs: one compiled call for the whole run.

It covers full-batch plain SGD only (the benchmark's workloads): no mini-batches, momentum,
dampening, Nesterov or weight decay; asking for them is a ``BackendError`` naming the option.
The costs come back all at once, so ``log`` is called after the run. A run whose cost turns
inf or nan stops there (its costs end with that epoch's), as ``train.train`` does.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from softmax_rosetta.backend import check_plain_sgd

from .train import scanned_costs

PRECISION = lax.Precision.HIGHEST


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
    rows: on the digits (1797 x 64 -> 10) an epoch takes 107 us instead of 158. On large X
    the other way round is faster (44 ms instead of 61 at 100,000 x 784): the gradient's dot
    then reads (p - Y) as it was written. ``train_fast`` picks by the size of X.

    Returns (costs (steps,), weight, bias). ``steps`` is static: each count compiles once.
    """
    n, c = x.shape[0], weight.shape[0]
    y_one_hot = jax.nn.one_hot(y, c, dtype=x.dtype)
    if classes_first:
        y_one_hot = y_one_hot.T
    axis = 0 if classes_first else 1       # the classes' axis
    scale = (lr / n).astype(x.dtype)

    def epoch(carry, _):
        (w, b), finite_so_far = carry
        z = lax.dot_general(x, w, (((1,), (1,)), ((), ())), precision=PRECISION)       # x W^T (N, C)
        z = z.T + b[:, None] if classes_first else z + b
        log_p = jax.nn.log_softmax(z, axis=axis)
        cost = -jnp.sum(log_p * y_one_hot) / n
        dz = jnp.exp(log_p) - y_one_hot                                                 # p - Y
        rows = 1 if classes_first else 0
        grad_w = lax.dot_general(dz, x, (((rows,), (0,)), ((), ())), precision=PRECISION)  # (p - Y)^T x
        # a scan can't stop early: after a non-finite cost the parameters stay where that
        # epoch's step left them, as if the loop had stopped there (train_fast cuts the costs)
        w, b = jnp.where(finite_so_far, w - scale * grad_w, w), jnp.where(finite_so_far, b - scale * dz.sum(axis=rows), b)
        return ((w, b), finite_so_far & jnp.isfinite(cost)), cost

    ((w, b), _), costs = lax.scan(epoch, ((weight, bias), jnp.array(True)), None, length=steps)
    return costs, w, b


def train_fast(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
               momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int, weight (C, D), bias (C,): jax arrays on one device.
    Returns (costs (epochs + 1,), weight (C, D), bias (C,)).
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    costs, w, b = run(x, y, weight, bias, jnp.asarray(lr, dtype=x.dtype), epochs + 1,
                      classes_first=x.size < CLASSES_FIRST_BELOW)
    return scanned_costs(costs, log_every, log), w, b
