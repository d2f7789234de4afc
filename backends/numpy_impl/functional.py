"""Softmax and cross-entropy in NumPy, written out from their formulas, with torch's options.

Shapes, as torch has them: logits / log_probs (N, C), (N, C, d1, ...) with the classes on
axis 1, or (C,) unbatched. target: class indices, the input's shape without the class axis
((N,), (N, d1, ...), or a scalar), or class probabilities (soft labels), the input's own shape.
Options, spelled as in torch's F.cross_entropy: weight (C,), ignore_index, reduction
("none" | "sum" | "mean"), label_smoothing in [0, 1]. docs/cross-entropy.md has the table.
Arguments are checked on the host by ``softmax_rosetta.backend.Backend`` before they reach here.
"""

import functools

import numpy as np


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z).

    Subtracting the max changes nothing mathematically and keeps exp() from overflowing:
    the largest exponent is exp(0) = 1. ``initial=-inf`` gives the max of an empty axis (a
    dimension of 0), where NumPy would raise: the result is empty, as torch's.
    """
    shifted = z - np.max(z, axis=axis, keepdims=True, initial=-np.inf)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """log_softmax(z) = z - logsumexp(z), with logsumexp(z) = max z + log sum exp(z - max z)."""
    shifted = z - np.max(z, axis=axis, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # log 0 is an empty axis's, and the (empty) result holds none of it
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def one_hot(target, num_classes, dtype=np.float32):
    """Class indices of shape S -> S + (C,): a single 1 on the last axis (the lesson's ``scatter_``)."""
    y_one_hot = np.zeros(target.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(y_one_hot, target[..., None], 1, axis=-1)
    return y_one_hot


# --- torch's options, written out once for the losses below -----------------------------------
def _classes_last(x):
    """(N, C, d1, ...) -> (N, d1, ..., C); (C,) stays. Every formula below works on the last axis."""
    return np.moveaxis(x, 1, -1) if x.ndim > 1 else x


def _is_probabilities(target):
    """A float target holds class probabilities; an integer one holds class indices."""
    return np.issubdtype(target.dtype, np.floating)


def _counted(target, weight, ignore_index, dtype):
    """Class-index targets -> (keep, y, w_y).

    keep: the targets that count (not ignore_index); y: the targets with the ignored ones set
    to class 0, so that they can index; w_y: weight[y] (1 without a weight), 0 where ignored.
    """
    keep = target != ignore_index
    y = np.where(keep, target, 0)
    w_y = np.ones(y.shape, dtype=dtype) if weight is None else weight[y]
    return keep, y, np.where(keep, w_y, 0)


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
        keep = np.ones(q.shape[:-1], dtype=bool)
        denominator = keep.size
    else:
        keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
        q = one_hot(y, num_classes, dtype=z.dtype)
        denominator = w_y.sum()
    if label_smoothing:
        q = (1 - label_smoothing) * q + label_smoothing / num_classes
    if weight is not None:
        q = q * weight
    return np.where(keep[..., None], q, 0), keep, denominator


def _reduce(losses, reduction, denominator):
    """ "none": the losses; "sum": their sum; "mean": their sum / denominator.

    Every target ignored gives 0 / 0 = nan for the mean, as torch gives.
    """
    if reduction == "mean":
        return losses.sum() / denominator
    if reduction == "sum":
        return losses.sum()
    return losses


def _quiet(loss):
    """torch returns inf and nan quietly (log 0 off the target, 0 * -inf, 0 / 0 when every
    target is ignored); the losses below do the same instead of printing a RuntimeWarning."""

    @functools.wraps(loss)
    def quiet_loss(*args, **kwargs):
        with np.errstate(divide="ignore", invalid="ignore"):
            return loss(*args, **kwargs)

    return quiet_loss


# --- the lesson's losses ------------------------------------------------------------------------
@_quiet
def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -weight[y] * log_probs[y] per element, 0 where y == ignore_index.

    "mean" divides by the sum of weight[y] over the targets that count (their number without
    a weight), not by N.
    """
    log_probs = _classes_last(log_probs)
    keep, y, w_y = _counted(target, weight, ignore_index, log_probs.dtype)
    picked = np.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
    return _reduce(np.where(keep, -w_y * picked, 0), reduction, w_y.sum())


@_quiet
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
    losses = np.sum(a * -np.log(softmax(z, axis=-1)), axis=-1)
    return _reduce(np.where(keep, losses, 0), reduction, denominator)


def cross_entropy_nll(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Level 2: nll_loss(log_softmax(z), y), with the same weight, ignore_index and reduction.

    nll_loss picks one class per element: no label smoothing, no probability targets here.
    """
    return nll_loss(log_softmax(logits, axis=1 if logits.ndim > 1 else 0), target, weight, ignore_index, reduction)


@_quiet
def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 3, fused: logsumexp(z) - z[y] per element, never forming the probabilities.

    class indices, as torch computes them (eps = label_smoothing, log p = log_softmax(z)):
        loss = (1 - eps) * w[y] * -log p[y] + eps / C * sum_c w[c] * -log p[c],  0 where ignored
        "mean" = sum / (sum of w[y] over the targets that count), each term on its own as
        torch reduces them: a total weight of 0 gives 0 / 0 = nan, not inf
    probabilities q:
        loss = sum_c w[c] * ((1 - eps) * q[c] + eps / C) * -log p[c];  "mean" = sum / number of elements
    """
    z = _classes_last(logits)
    if _is_probabilities(target):
        a, _, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
        return _reduce(-np.sum(a * log_softmax(z, axis=-1), axis=-1), reduction, denominator)
    keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
    # Work with z - max z, as log_softmax does: logsumexp(z) itself would be rounded at the
    # size of z, and at z ~ 1e4 in float32 that is 1e-3 lost before the subtraction.
    shifted = z - np.max(z, axis=-1, keepdims=True)
    log_normalizer = np.log(np.sum(np.exp(shifted), axis=-1))
    nll = w_y * (log_normalizer - np.take_along_axis(shifted, y[..., None], axis=-1)[..., 0])
    loss = _reduce(np.where(keep, nll, 0), reduction, w_y.sum())
    if not label_smoothing:
        return loss
    w = 1 if weight is None else weight
    smooth = -np.sum(w * (shifted - log_normalizer[..., None]), axis=-1)  # sum_c w[c] * -log p[c]
    smooth_loss = _reduce(np.where(keep, smooth, 0), reduction, w_y.sum())
    return (1 - label_smoothing) * loss + label_smoothing / z.shape[-1] * smooth_loss


# --- gradients, by hand -------------------------------------------------------------------------
@_quiet
def cross_entropy_grad(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """d cross_entropy / d logits, the shape of logits ("none": the gradient of the losses' sum).

    Each element's loss is sum_c a_c * -log softmax(z)_c, a the weighted target masses of
    ``cross_entropy_onehot``. As d log softmax(z)_c / d z_k = [c = k] - softmax(z)_k,

        d loss / d z = softmax(z) * sum_c a_c - a        (softmax(z) - one_hot(y) without options)

    divided by the mean's denominator for "mean" (a denominator of 0: ``_zero_total_weight_grad``).
    Targets that don't count get exactly 0.
    """
    z = _classes_last(logits)
    a, keep, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
    grad = softmax(z, axis=-1) * np.sum(a, axis=-1, keepdims=True) - a
    if reduction == "mean":
        if denominator or not grad.size:
            grad = grad / denominator
        else:  # class indices whose weights sum to 0
            grad = _zero_total_weight_grad(z, target, weight, ignore_index, label_smoothing, denominator)
    grad = np.where(keep[..., None], grad, 0)
    return np.moveaxis(grad, -1, 1) if logits.ndim > 1 else grad


def _zero_total_weight_grad(z, target, weight, ignore_index, label_smoothing, denominator):
    """The gradient of a mean over a total weight of 0 (every counted weight 0, or weights that cancel),
    as torch's autograd gets it: 1 / 0 = +-inf reaches each term the loss formed, -(1 - eps) * w[y] at the
    target and -eps / C * w[c] on every class, giving +-inf (nan for a weight of 0, 0 * inf); then
    log_softmax's backward, g - softmax(z) * sum(g), mixes them into inf and nan."""
    scale = 1 / denominator
    keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
    g = np.where(one_hot(y, z.shape[-1], dtype=bool), -(1 - label_smoothing) * w_y[..., None] * scale, 0)
    if label_smoothing:
        w = np.ones(z.shape[-1], dtype=z.dtype) if weight is None else weight
        g = g - label_smoothing / z.shape[-1] * w * scale
    return np.where(keep[..., None], g - softmax(z, axis=-1) * np.sum(g, axis=-1, keepdims=True), 0)


@_quiet
def nll_loss_grad(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """d nll_loss / d log_probs: -weight[y] (/ the mean's denominator) at each counted target, 0 elsewhere."""
    lp = _classes_last(log_probs)
    keep, y, w_y = _counted(target, weight, ignore_index, lp.dtype)
    scale = -w_y / w_y.sum() if reduction == "mean" else -w_y
    at_target = one_hot(y, lp.shape[-1], dtype=bool) & keep[..., None]
    grad = np.where(at_target, scale[..., None], 0).astype(lp.dtype, copy=False)
    return np.moveaxis(grad, -1, 1) if log_probs.ndim > 1 else grad
