"""Softmax and cross-entropy in JAX, at the lesson's three levels, with torch's options.

Shapes, as torch has them: logits / log_probs (N, C), (N, C, d1, ...) with the classes on
axis 1, or (C,) unbatched. target: integer class indices, the input's shape without the class
axis, or class probabilities (soft labels), the input's own shape.

torch's options, and how they are built here (optax has only the plain losses):
- weight (C,): jnp.take(weight, y) gives each element's weight; for soft targets, and for the
  smoothing term, the labels handed to optax are multiplied by it.
- ignore_index: a jnp.where mask; the ignored targets are set to class 0 so that they can index,
  and their losses and weights to 0, so they leave the mean's denominator.
- reduction: optax returns per-element losses and leaves it to the caller (``_reduce``).
- label_smoothing: torch's (1 - eps) * nll + eps / C * (cross-entropy against w on every class),
  the second term optax.softmax_cross_entropy; for soft targets optax.smooth_labels mixes in eps / C.
Everything is a jnp expression (no Python branch on array values), so these run under jit.
JAX can't raise on a bad index inside a traced function (an out-of-range label gives NaN or
garbage), so ``softmax_rosetta.backend.Backend`` checks the arguments on the host before calling these.
``reduction`` and ``label_smoothing`` are static: under jit, close over them (functools.partial).
"""

import jax
import jax.numpy as jnp
import optax


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i) / sum_j exp(z_j); jax.nn.softmax subtracts the max internally."""
    return jax.nn.softmax(z, axis=axis)


def log_softmax(z, axis=-1):
    """log_softmax(z) = z - logsumexp(z)."""
    return jax.nn.log_softmax(z, axis=axis)


def one_hot(target, num_classes, dtype=jnp.float32):
    """Class indices of shape S -> S + (C,): jax.nn.one_hot, JAX's counterpart of torch's
    ``scatter_`` (arrays are immutable, so there is nothing to scatter into)."""
    return jax.nn.one_hot(target, num_classes, dtype=dtype)


# --- torch's options, built from jnp and optax once for the losses below -----------------------
def _classes_last(x):
    """(N, C, d1, ...) -> (N, d1, ..., C); (C,) stays. optax and the formulas use the last axis."""
    return jnp.moveaxis(x, 1, -1) if x.ndim > 1 else x


def _is_probabilities(target):
    """A float target holds class probabilities; an integer one holds class indices."""
    return jnp.issubdtype(target.dtype, jnp.floating)


def _counted(target, weight, ignore_index, dtype):
    """Class-index targets -> (keep, y, w_y).

    keep: the targets that count (not ignore_index); y: the targets with the ignored ones set
    to class 0, so that they can index; w_y: weight[y] (1 without a weight), 0 where ignored.
    """
    keep = target != ignore_index
    y = jnp.where(keep, target, 0)
    w_y = jnp.ones(y.shape, dtype=dtype) if weight is None else jnp.take(weight, y)
    return keep, y, jnp.where(keep, w_y, 0)


def _target_distribution(target, weight, ignore_index, label_smoothing, z):
    """The target as weighted class masses a (..., C), with keep and the mean's denominator.

    class indices:  a = w * smooth_labels(one_hot(y), eps), 0 where ignored;
                    denominator: the sum of weight[y] over the targets that count.
    probabilities:  a = w * smooth_labels(q, eps); ignore_index doesn't apply;
                    denominator: the number of elements (weights don't enter it).
    optax.smooth_labels(q, eps) = (1 - eps) * q + eps / C, torch's label smoothing.
    """
    if _is_probabilities(target):
        q = _classes_last(target)
        keep = jnp.ones(q.shape[:-1], dtype=bool)
        denominator = keep.size
    else:
        keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
        q = one_hot(y, z.shape[-1], dtype=z.dtype)
        denominator = w_y.sum()
    if label_smoothing:
        q = optax.smooth_labels(q, label_smoothing)
    if weight is not None:
        q = q * weight
    return jnp.where(keep[..., None], q, 0), keep, denominator


def _reduce(losses, reduction, denominator):
    """ "none": the losses; "sum": their sum; "mean": their sum / denominator (0 / 0 = nan, as torch)."""
    if reduction == "mean":
        return losses.sum() / denominator
    if reduction == "sum":
        return losses.sum()
    return losses


# --- the lesson's losses ------------------------------------------------------------------------
def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -weight[y] * log_probs[y] per element, 0 where y == ignore_index.
    JAX has no nll_loss; take_along_axis picks each element's log-probability.

    "mean" divides by the sum of weight[y] over the targets that count, not by N.
    """
    log_probs = _classes_last(log_probs)
    keep, y, w_y = _counted(target, weight, ignore_index, log_probs.dtype)
    picked = jnp.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
    return _reduce(jnp.where(keep, -w_y * picked, 0), reduction, w_y.sum())


def cross_entropy_onehot(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 1, the lesson's low level: sum over classes of a * -log(softmax(z)), then reduced.

    a is the target as a distribution over the classes (one_hot(y), or the probabilities),
    mixed with the uniform one by label smoothing and scaled by the class weights (see
    ``_target_distribution``): one formula that holds every option. Its weak spot is
    log(softmax(z)): a probability that underflows to 0 gives log 0 = -inf, so logits like
    +-1e4 or -inf give inf or nan (0 * inf) where the fused level stays exact.
    """
    z = _classes_last(logits)
    a, keep, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
    losses = jnp.sum(a * -jnp.log(jax.nn.softmax(z, axis=-1)), axis=-1)
    return _reduce(jnp.where(keep, losses, 0), reduction, denominator)


def cross_entropy_nll(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Level 2: nll_loss(log_softmax(z), y), with the same weight, ignore_index and reduction.

    nll_loss picks one class per element: no label smoothing, no probability targets here.
    """
    return nll_loss(
        jax.nn.log_softmax(logits, axis=1 if logits.ndim > 1 else 0), target, weight, ignore_index, reduction
    )


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 3, fused: optax's cross-entropy per element, with torch's options built around it.

    class indices (eps = label_smoothing, log p = log_softmax(z)):
        loss = (1 - eps) * w[y] * optax.softmax_cross_entropy_with_integer_labels(z, y)
               + eps / C * optax.softmax_cross_entropy(z, w),   0 where y == ignore_index
        "mean" = sum / (sum of w[y] over the targets that count), each term on its own as
        torch reduces them: a total weight of 0 gives 0 / 0 = nan, not inf
    probabilities q:
        loss = optax.softmax_cross_entropy(z, w * optax.smooth_labels(q, eps));  "mean" = sum / number of elements
    """
    z = _classes_last(logits)
    if _is_probabilities(target):
        a, _, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
        return _reduce(optax.softmax_cross_entropy(z, a), reduction, denominator)
    keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
    # optax computes logsumexp(z) - z[y]: logsumexp(z) is rounded at the size of z, and at
    # z ~ 1e4 in float32 that loses 1e-3. Subtracting the max first (as log_softmax does,
    # and as torch does) keeps the loss exact; the max is a constant for the gradient.
    shifted = z - jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    nll = w_y * optax.softmax_cross_entropy_with_integer_labels(shifted, y)
    loss = _reduce(jnp.where(keep, nll, 0), reduction, w_y.sum())
    if not label_smoothing:
        return loss
    w = jnp.ones(z.shape[-1], dtype=z.dtype) if weight is None else weight
    smooth = optax.softmax_cross_entropy(z, jnp.broadcast_to(w, z.shape))  # sum_c w[c] * -log p[c]
    smooth_loss = _reduce(jnp.where(keep, smooth, 0), reduction, w_y.sum())
    return (1 - label_smoothing) * loss + label_smoothing / z.shape[-1] * smooth_loss


# --- gradients, by jax.grad ---------------------------------------------------------------------
def cross_entropy_grad(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """d cross_entropy / d logits by jax.grad, the shape of logits ("none": the gradient of the losses' sum)."""

    def loss(z):
        return cross_entropy(z, target, weight, ignore_index, reduction, label_smoothing).sum()

    return jax.grad(loss)(logits)


def nll_loss_grad(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """d nll_loss / d log_probs by jax.grad ("none": the gradient of the losses' sum)."""

    def loss(lp):
        return nll_loss(lp, target, weight, ignore_index, reduction).sum()

    return jax.grad(loss)(log_probs)
