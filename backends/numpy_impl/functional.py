"""Softmax and cross-entropy in NumPy, written out from their formulas.

Shapes: logits / z (N, C); target (N,) integer class indices in [0, C).
Arguments are checked on the host by ``common.backend.Backend`` before they reach here.
"""

import numpy as np


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z).

    Subtracting the max changes nothing mathematically and keeps exp() from overflowing:
    the largest exponent is exp(0) = 1.
    """
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """log_softmax(z) = z - logsumexp(z), with logsumexp(z) = max z + log sum exp(z - max z)."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def one_hot(target, num_classes, dtype=np.float32):
    """(N,) class indices -> (N, C) rows with a single 1 (the lesson's ``scatter_``)."""
    y_one_hot = np.zeros((target.shape[0], num_classes), dtype=dtype)
    np.put_along_axis(y_one_hot, target[:, None], 1, axis=1)
    return y_one_hot


def _reduce(losses, reduction):
    if reduction == "mean":
        return np.mean(losses)
    if reduction == "sum":
        return np.sum(losses)
    return losses


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood: -log_probs[i, target[i]] for each row, then reduced."""
    picked = np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]
    return _reduce(-picked, reduction)


def cross_entropy_onehot(logits, target, reduction="mean"):
    """Level 1, the lesson's low level: (one_hot(y) * -log(softmax(z))).sum(classes), then reduced."""
    y_one_hot = one_hot(target, logits.shape[1], dtype=logits.dtype)
    return _reduce(np.sum(y_one_hot * -np.log(softmax(logits, axis=1)), axis=1), reduction)


def cross_entropy_nll(logits, target, reduction="mean"):
    """Level 2: nll_loss(log_softmax(z), y)."""
    return nll_loss(log_softmax(logits, axis=1), target, reduction=reduction)


def cross_entropy(logits, target, reduction="mean"):
    """Level 3, fused: logsumexp(z_i) - z_i[y_i] per row, never forming the probabilities."""
    m = np.max(logits, axis=1, keepdims=True)
    logsumexp = (m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True)))[:, 0]
    picked = np.take_along_axis(logits, target[:, None], axis=1)[:, 0]
    return _reduce(logsumexp - picked, reduction)


def cross_entropy_grad(logits, target):
    """d mean(cross_entropy) / d logits = (softmax(z) - one_hot(y)) / N, shape (N, C)."""
    n, c = logits.shape
    return (softmax(logits, axis=1) - one_hot(target, c, dtype=logits.dtype)) / n
