"""Softmax and cross-entropy in PyTorch, at the lesson's three levels.

Shapes: logits / z (N, C); target (N,) int64 class indices in [0, C).
"""

import torch
import torch.nn.functional as F


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i) / sum_j exp(z_j); F.softmax subtracts the max internally."""
    return F.softmax(z, dim=axis)


def log_softmax(z, axis=-1):
    """log_softmax(z) = z - logsumexp(z): one op, more accurate than torch.log(F.softmax(z))."""
    return F.log_softmax(z, dim=axis)


def one_hot(target, num_classes, dtype=torch.float32):
    """(N,) class indices -> (N, C), the lesson's way: zeros, then ``scatter_`` ones into place."""
    y_one_hot = torch.zeros(target.shape[0], num_classes, dtype=dtype, device=target.device)
    # |target.unsqueeze(1)| = (N, 1): the column to write a 1 into, for each row
    return y_one_hot.scatter_(1, target.unsqueeze(1), 1)


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood: -log_probs[i, target[i]] for each row, then reduced."""
    return F.nll_loss(log_probs, target, reduction=reduction)


def cross_entropy_onehot(logits, target, reduction="mean"):
    """Level 1, the lesson's low level: (y_one_hot * -torch.log(F.softmax(z))).sum(dim=1), then reduced."""
    y_one_hot = one_hot(target, logits.shape[1], dtype=logits.dtype)
    return _reduce((y_one_hot * -torch.log(F.softmax(logits, dim=1))).sum(dim=1), reduction)


def cross_entropy_nll(logits, target, reduction="mean"):
    """Level 2: F.nll_loss(F.log_softmax(z, dim=1), y)."""
    return F.nll_loss(F.log_softmax(logits, dim=1), target, reduction=reduction)


def cross_entropy(logits, target, reduction="mean"):
    """Level 3, fused: F.cross_entropy(z, y) = F.nll_loss(F.log_softmax(z, dim=1), y) in one call."""
    return F.cross_entropy(logits, target, reduction=reduction)
