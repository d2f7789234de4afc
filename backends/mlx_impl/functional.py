"""Softmax and cross-entropy in MLX, at the lesson's three levels, with torch's options.

Shapes, as torch has them: logits / log_probs (N, C), (N, C, d1, ...) with the classes on
axis 1, or (C,) unbatched. target: integer class indices, the input's shape without the class
axis, or class probabilities (soft labels), the input's own shape.

torch's options, and how they are built from mlx.nn.losses:
- weight (C,): MLX's ``weights`` are per element, not per class: each element gets weight[y]
  (``mx.take``); for soft targets, and for the smoothing term, the target itself is multiplied by it.
- ignore_index: an ``mx.where`` mask; the ignored targets are set to class 0 so that they can
  index, and their losses and weights to 0, so they leave the mean's denominator.
- reduction: MLX's "mean" divides by the number of elements, torch's by the sum of weight[y];
  so the losses are taken per element (reduction "none") and reduced here (``_reduce``).
- label_smoothing: MLX's smooths the loss and then multiplies it by the element's weight, where
  torch smooths over w[c] of every class; so the smoothing term is its own sum, as torch writes
  it: (1 - eps) * w[y] * nll + eps / C * sum_c w[c] * -log p[c].
- probability targets t: mlx.nn.losses.cross_entropy computes logsumexp(z) - sum(t * z), which
  is -sum(t * log p) only where t sums to 1; torch's targets need not (nor do weighted or
  smoothed ones), so those losses are -sum(a * log_softmax(z)) here (``_soft``).
MLX can't raise on a bad index inside a computation (an out-of-range label reads garbage), so
``softmax_rosetta.backend.Backend`` checks the arguments on the host before calling these.
Arrays are lazy: each function returns an unevaluated array; reading it (np.asarray, .item())
or ``mx.eval`` computes it.
"""

import mlx.core as mx
import mlx.nn as nn


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i) / sum_j exp(z_j); mx.softmax subtracts the max internally.
    An empty z is its own softmax (MLX's reductions refuse empty arrays)."""
    return z if z.size == 0 else mx.softmax(z, axis=axis, precise=True)


def log_softmax(z, axis=-1):
    """log_softmax(z) = z - logsumexp(z), with mx.logsumexp. (mlx.nn.log_softmax is the same formula,
    but in mlx 0.32.4 it ends the process without a message on one class, C = 1: measured.)"""
    if z.size == 0:
        return z
    # the max first, as torch does: logsumexp(z) of z ~ 1e4 rounds at 1e4's size (1e-3 in float32)
    shifted = z - mx.stop_gradient(mx.max(z, axis=axis, keepdims=True))
    return shifted - mx.logsumexp(shifted, axis=axis, keepdims=True)


def one_hot(target, num_classes, dtype=mx.float32):
    """Class indices of shape S -> S + (C,): compare each index with every class (MLX has no one_hot;
    a comparison builds it in one op, where torch scatters ones into zeros)."""
    return (target[..., None] == mx.arange(num_classes)).astype(dtype)


# --- torch's options, built from mx ops once for the losses below -----------------------------
def _classes_last(x):
    """(N, C, d1, ...) -> (N, d1, ..., C); (C,) stays. mlx.nn.losses and the formulas use the last axis."""
    return mx.moveaxis(x, 1, -1) if x.ndim > 1 else x


def _is_probabilities(target):
    """A float target holds class probabilities; an integer one holds class indices."""
    return mx.issubdtype(target.dtype, mx.floating)


def _counted(target, weight, ignore_index, dtype):
    """Class-index targets -> (keep, y, w_y).

    keep: the targets that count (not ignore_index); y: the targets with the ignored ones set
    to class 0, so that they can index; w_y: weight[y] (1 without a weight), 0 where ignored.
    """
    keep = target != ignore_index
    y = mx.where(keep, target, 0)
    w_y = mx.ones(y.shape, dtype=dtype) if weight is None else mx.take(weight, y)
    return keep, y, mx.where(keep, w_y, mx.array(0, dtype))


def _target_distribution(target, weight, ignore_index, label_smoothing, z):
    """The target as weighted class masses a (..., C), with keep and the mean's denominator.

    class indices:  a = w * ((1 - eps) * one_hot(y) + eps / C), 0 where ignored;
                    denominator: the sum of weight[y] over the targets that count.
    probabilities:  a = w * ((1 - eps) * q + eps / C); ignore_index doesn't apply;
                    denominator: the number of elements (weights don't enter it).
    """
    num_classes = z.shape[-1]
    if _is_probabilities(target):
        q = _classes_last(target)
        keep = mx.ones(q.shape[:-1], dtype=mx.bool_)
        denominator = mx.array(keep.size, z.dtype)
    else:
        keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
        q = one_hot(y, num_classes, dtype=z.dtype)
        denominator = w_y.sum()
    if label_smoothing:
        q = (1 - label_smoothing) * q + label_smoothing / num_classes
    if weight is not None:
        q = q * weight
    return mx.where(keep[..., None], q, mx.array(0, z.dtype)), keep, denominator


@mx.custom_function
def _mean(losses, keep, denominator):
    """losses.sum() / denominator, with torch's gradient: 1 / denominator for each element that
    counts (keep), taken as it is (inf or nan where the denominator is 0), and 0 for the others."""
    return losses.sum() / denominator


@_mean.vjp
def _mean_vjp(primals, cotangent, output):
    losses, keep, denominator = primals
    # mx.grad's own rule gives every element cotangent / denominator, and the mx.where that zeroed
    # the ignored losses passes it on multiplied by its mask: inf * 0 = nan where torch's gradient
    # is 0 (denominator 0: every target ignored or weighted 0). Here the ignored ones get 0 first.
    grad = mx.where(keep, cotangent / denominator, mx.array(0, losses.dtype))
    return mx.broadcast_to(grad, losses.shape), mx.zeros_like(keep), mx.zeros_like(denominator)


def _reduce(losses, reduction, denominator, keep):
    """ "none": the losses; "sum": their sum; "mean": their sum / denominator (0 / 0 = nan, as torch).
    keep: the elements that count (``_mean``'s gradient)."""
    if reduction == "mean":
        return _mean(losses, keep, denominator)
    if reduction == "sum":
        return losses.sum()
    return losses


def _zero_where_not(keep, losses):
    return mx.where(keep, losses, mx.array(0, losses.dtype))


def _soft(z, a):
    """sum over classes of a * -log_softmax(z): the cross-entropy against any class masses a."""
    return -mx.sum(a * log_softmax(z, axis=-1), axis=-1)


# --- the lesson's losses ------------------------------------------------------------------------
def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -weight[y] * log_probs[y] per element, 0 where y == ignore_index.
    mlx.nn.losses.nll_loss picks each element's log-probability; weight, ignore_index and torch's
    mean are built around it. "mean" divides by the sum of weight[y] over the targets that count, not by N.
    """
    log_probs = _classes_last(log_probs)
    keep, y, w_y = _counted(target, weight, ignore_index, log_probs.dtype)
    picked = nn.losses.nll_loss(log_probs, y, axis=-1, reduction="none")  # -log_probs[y]
    return _reduce(_zero_where_not(keep, w_y * picked), reduction, w_y.sum(), keep)


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
    losses = mx.sum(a * -mx.log(softmax(z, axis=-1)), axis=-1)
    return _reduce(_zero_where_not(keep, losses), reduction, denominator, keep)


def cross_entropy_nll(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Level 2: nll_loss(log_softmax(z), y), with the same weight, ignore_index and reduction.

    nll_loss picks one class per element: no label smoothing, no probability targets here.
    """
    return nll_loss(log_softmax(logits, axis=1 if logits.ndim > 1 else 0), target, weight, ignore_index, reduction)


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 3, fused: mlx.nn.losses.cross_entropy per element, with torch's options built around it.

    class indices (eps = label_smoothing):
        loss = (1 - eps) * cross_entropy(z, y, weights=w[y]) + eps / C * sum_c w[c] * -log p[c],
               0 where y == ignore_index; "mean" = sum / (sum of w[y] over the targets that count),
               each term reduced on its own as torch does: a total weight of 0 gives 0 / 0 = nan
    probabilities q:
        loss = -sum(w * ((1 - eps) * q + eps / C) * log_softmax(z));  "mean" = sum / number of elements
    """
    z = _classes_last(logits)
    if _is_probabilities(target):
        a, keep, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
        return _reduce(_soft(z, a), reduction, denominator, keep)
    if z.size == 0:  # mx.logsumexp refuses empty arrays: the same sums, written out
        return cross_entropy_onehot(logits, target, weight, ignore_index, reduction, label_smoothing)
    keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
    # logsumexp(z) - z[y] unshifted loses 1e-3 at z ~ 1e4 in float32 (measured: 1.34863 for 1.34901).
    # mlx 0.32.4's CPU loss shifts by the max itself, but its documentation doesn't promise it (its
    # GPU path is another kernel): subtracting the max first, as log_softmax and torch do, keeps the
    # loss exact whichever runs; the max is a constant for the gradient.
    shifted = z - mx.stop_gradient(mx.max(z, axis=-1, keepdims=True))
    nll = nn.losses.cross_entropy(shifted, y, weights=w_y, axis=-1, reduction="none")
    loss = _reduce(_zero_where_not(keep, nll), reduction, w_y.sum(), keep)
    if not label_smoothing:
        return loss
    w = mx.ones((z.shape[-1],), dtype=z.dtype) if weight is None else weight
    smooth = _soft(z, mx.broadcast_to(w, z.shape))  # sum_c w[c] * -log p[c]
    smooth_loss = _reduce(_zero_where_not(keep, smooth), reduction, w_y.sum(), keep)
    return (1 - label_smoothing) * loss + label_smoothing / z.shape[-1] * smooth_loss


# --- gradients, by mx.grad ----------------------------------------------------------------------
def cross_entropy_grad(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """d cross_entropy / d logits by mx.grad, the shape of logits ("none": the gradient of the losses' sum)."""

    def loss(z):
        return cross_entropy(z, target, weight, ignore_index, reduction, label_smoothing).sum()

    return mx.grad(loss)(logits)


def nll_loss_grad(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """d nll_loss / d log_probs by mx.grad ("none": the gradient of the losses' sum)."""

    def loss(lp):
        return nll_loss(lp, target, weight, ignore_index, reduction).sum()

    return mx.grad(loss)(log_probs)
