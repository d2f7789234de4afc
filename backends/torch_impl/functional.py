"""Softmax and cross-entropy in PyTorch, at the lesson's three levels, with torch's options.

Shapes, as torch has them: logits / log_probs (N, C), (N, C, d1, ...) with the classes on
dim 1, or (C,) unbatched. target: int64 class indices, the input's shape without the class
dim, or class probabilities (soft labels), the input's own shape.
Options: weight (C,), ignore_index, reduction ("none" | "sum" | "mean"), label_smoothing in
[0, 1]. torch is where they come from: the fused level passes them straight to
F.cross_entropy and F.nll_loss; docs/cross-entropy.md has the table.
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
    """Class indices of shape S -> S + (C,), the lesson's way: zeros, then ``scatter_`` ones into place."""
    y_one_hot = torch.zeros(*target.shape, num_classes, dtype=dtype, device=target.device)
    # |target.unsqueeze(-1)| = S + (1,): the position to write a 1 into, for each element
    return y_one_hot.scatter_(-1, target.unsqueeze(-1), 1)


# --- torch's options, spelled out for the one-hot level (the other levels pass them on) --------
def _classes_last(x):
    """(N, C, d1, ...) -> (N, d1, ..., C); (C,) stays. The one-hot formula works on the last dim."""
    return x.movedim(1, -1) if x.dim() > 1 else x


def _class_dim(x):
    return 1 if x.dim() > 1 else 0


def _counted(target, weight, ignore_index, dtype):
    """Class-index targets -> (keep, y, w_y).

    keep: the targets that count (not ignore_index); y: the targets with the ignored ones set
    to class 0, so that they can index; w_y: weight[y] (1 without a weight), 0 where ignored.
    """
    keep = target != ignore_index
    y = torch.where(keep, target, 0)
    w_y = torch.ones(y.shape, dtype=dtype, device=y.device) if weight is None else weight[y]
    return keep, y, torch.where(keep, w_y, 0)


def _target_distribution(target, weight, ignore_index, label_smoothing, z):
    """The target as weighted class masses a (..., C), with keep and the mean's denominator.

    class indices:  a = w * ((1 - eps) * one_hot(y) + eps / C), 0 where ignored;
                    denominator: the sum of weight[y] over the targets that count.
    probabilities:  a = w * ((1 - eps) * q + eps / C); ignore_index doesn't apply;
                    denominator: the number of elements (weights don't enter it).
    """
    num_classes = z.shape[-1]
    if target.is_floating_point():
        q = _classes_last(target)
        keep = torch.ones(q.shape[:-1], dtype=torch.bool, device=q.device)
        denominator = keep.numel()
    else:
        keep, y, w_y = _counted(target, weight, ignore_index, z.dtype)
        q = one_hot(y, num_classes, dtype=z.dtype)
        denominator = w_y.sum()
    if label_smoothing:
        q = (1 - label_smoothing) * q + label_smoothing / num_classes
    if weight is not None:
        q = q * weight
    return torch.where(keep.unsqueeze(-1), q, 0), keep, denominator


def _reduce(losses, reduction, denominator):
    """ "none": the losses; "sum": their sum; "mean": their sum / denominator (0 / 0 = nan)."""
    if reduction == "mean":
        return losses.sum() / denominator
    if reduction == "sum":
        return losses.sum()
    return losses


# --- the lesson's losses ------------------------------------------------------------------------
def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -weight[y] * log_probs[y] per element, 0 where y == ignore_index.

    "mean" divides by the sum of weight[y] over the targets that count, not by N.
    """
    return F.nll_loss(log_probs, target, weight=weight, ignore_index=ignore_index, reduction=reduction)


def cross_entropy_onehot(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 1, the lesson's low level: (a * -torch.log(F.softmax(z))).sum(classes), then reduced.

    a is the target as a distribution over the classes (one_hot(y), or the probabilities),
    mixed with the uniform one by label smoothing and scaled by the class weights (see
    ``_target_distribution``): one formula that holds every option. Its weak spot is
    torch.log(F.softmax(z)): a probability that underflows to 0 gives log 0 = -inf, so logits
    like +-1e4 or -inf give inf or nan (0 * inf) where F.cross_entropy stays exact.
    """
    z = _classes_last(logits)
    a, keep, denominator = _target_distribution(target, weight, ignore_index, label_smoothing, z)
    losses = (a * -torch.log(F.softmax(z, dim=-1))).sum(dim=-1)
    return _reduce(torch.where(keep, losses, 0), reduction, denominator)


def cross_entropy_nll(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Level 2: F.nll_loss(F.log_softmax(z, dim=1), y), with the same weight, ignore_index and reduction.

    nll_loss picks one class per element: no label smoothing, no probability targets here.
    """
    return F.nll_loss(
        F.log_softmax(logits, dim=_class_dim(logits)),
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
    )


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Level 3, fused: F.cross_entropy(z, y, ...) = F.nll_loss(F.log_softmax(z, dim=1), y, ...) in one call,
    with label smoothing and probability targets besides: every option is torch's own."""
    return F.cross_entropy(
        logits, target, weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing
    )


# --- gradients, by autograd ---------------------------------------------------------------------
def cross_entropy_grad(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """d cross_entropy / d logits by autograd, the shape of logits ("none": the gradient of the losses' sum)."""
    logits = logits.detach().requires_grad_()
    loss = cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    return grad


def nll_loss_grad(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """d nll_loss / d log_probs by autograd ("none": the gradient of the losses' sum)."""
    log_probs = log_probs.detach().requires_grad_()
    loss = nll_loss(log_probs, target, weight, ignore_index, reduction)
    (grad,) = torch.autograd.grad(loss.sum(), log_probs)
    return grad
