"""Softmax and cross-entropy in JAX, at the lesson's three levels.

Shapes: logits / z (N, C); target (N,) integer class indices in [0, C).
JAX can't raise on a bad index inside a traced function (an out-of-range label gives NaN or
garbage), so ``common.backend.Backend`` checks targets on the host before calling these.
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
    """(N,) class indices -> (N, C): jax.nn.one_hot, JAX's counterpart of torch's ``scatter_``
    (arrays are immutable, so there is nothing to scatter into)."""
    return jax.nn.one_hot(target, num_classes, dtype=dtype)


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood: -log_probs[i, target[i]] for each row, then reduced.
    JAX has no nll_loss; take_along_axis picks each row's log-probability."""
    picked = jnp.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]
    return _reduce(-picked, reduction)


def cross_entropy_onehot(logits, target, reduction="mean"):
    """Level 1, the lesson's low level: (one_hot(y) * -log(softmax(z))).sum(classes), then reduced."""
    y_one_hot = one_hot(target, logits.shape[1], dtype=logits.dtype)
    return _reduce(jnp.sum(y_one_hot * -jnp.log(jax.nn.softmax(logits, axis=1)), axis=1), reduction)


def cross_entropy_nll(logits, target, reduction="mean"):
    """Level 2: nll_loss(log_softmax(z), y)."""
    return nll_loss(jax.nn.log_softmax(logits, axis=1), target, reduction=reduction)


def cross_entropy(logits, target, reduction="mean"):
    """Level 3, fused: optax.softmax_cross_entropy_with_integer_labels, per example; optax
    leaves the reduction to the caller."""
    return _reduce(optax.softmax_cross_entropy_with_integer_labels(logits, target), reduction)
