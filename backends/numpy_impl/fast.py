"""The lesson's loop made fast in NumPy: the same trajectory as ``train.train``, fewer passes over memory.

``train.train`` is written to be read: each epoch builds new arrays for the logits, the
softmax, the one-hot targets and the gradients, and reads X twice from memory (once for the
forward matmul, once for the gradient's). This one computes the same numbers with

- buffers allocated once, before the first epoch, and ufuncs writing into them (``out=``);
- the one-hot targets made once, and 1/N and lr folded into one scale on the (C, D) gradient
  instead of two passes over the (N, C) one;
- for large N, row blocks: each block of X goes through the forward matmul, the softmax and
  the gradient's matmul while it is still in the CPU's cache, so X comes from main memory once
  per epoch instead of twice.

It covers full-batch plain SGD only (the benchmark's workloads): no mini-batches, momentum,
dampening, Nesterov or weight decay; asking for them is a ``BackendError`` naming the option.
"""

import numpy as np

from common.backend import BackendError

# Rows per block: a block of X should stay in the cache between its two matmuls. 1 MiB of X per
# block (about 330 rows at D = 784 in float32) sits in one core's 2 MiB L2 with room for the
# BLAS packing buffers; docs/benchmarks.md has the measurements behind the numbers.
BLOCK_BYTES = 1 << 20
# Below this size X fits in the cache anyway, and one block (one BLAS call per matmul) is faster.
UNBLOCKED_BYTES = 8 << 20


def train_fast(x, y, weight, bias, lr, epochs, log_every=0, log=None, *, batches=None,
               momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, block_rows=None):
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int class indices, weight (C, D), bias (C,), all NumPy; lr in x's dtype.
    Each epoch, with z = x W^T + b, p = softmax(z), Y = one_hot(y):

        cost  = mean over rows of logsumexp(z) - z[y]
        W    <- W - (lr / N) (p - Y)^T x          b <- b - (lr / N) sum over rows of (p - Y)

    block_rows: rows per block; None picks one from the size of X (one block when X is small,
    ``BLOCK_BYTES`` of X per block when it is large). Every block size gives the same numbers
    up to the order of the sums.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)), new arrays.
    """
    _check_plain_sgd(x.shape[0], batches, momentum, dampening, nesterov, weight_decay)
    n, d = x.shape
    c = weight.shape[0]
    dtype = x.dtype
    if block_rows is None:
        block_rows = n if x.nbytes <= UNBLOCKED_BYTES else max(1, BLOCK_BYTES // (d * dtype.itemsize))
    if block_rows < 1:
        raise ValueError(f"block_rows: must be >= 1, got {block_rows!r}")
    block_rows = min(int(block_rows), n)
    w = np.array(weight, dtype=dtype)          # updated in place
    b = np.array(bias, dtype=dtype)
    scale = dtype.type(lr) / dtype.type(n)     # lr / N: one multiply on (C, D), not two on (N, C)

    starts = list(range(0, n, block_rows))
    # the one-hot targets and the positions of z[i, y_i] in each block's flat logits, made once
    y_one_hot = np.zeros((n, c), dtype=dtype)
    y_one_hot[np.arange(n), y] = 1
    offsets = np.arange(block_rows, dtype=np.int64) * c
    at_target = [offsets[:min(block_rows, n - s)] + y[s:s + block_rows] for s in starts]

    # workspace, reused every block of every epoch
    z = np.empty((block_rows, c), dtype=dtype)       # logits, then p, then p - Y
    row = np.empty((block_rows, 1), dtype=dtype)     # max of each row, then sum of exp
    z_y = np.empty(block_rows, dtype=dtype)
    grad_w = np.empty((c, d), dtype=dtype)
    grad_b = np.empty(c, dtype=dtype)
    block_w = np.empty((c, d), dtype=dtype) if len(starts) > 1 else grad_w
    block_b = np.empty(c, dtype=dtype) if len(starts) > 1 else grad_b
    costs = np.empty(epochs + 1, dtype=dtype)

    for epoch in range(epochs + 1):
        total = 0.0
        for i, s in enumerate(starts):
            xb = x[s:s + block_rows]   # a view: no copy of X
            m = xb.shape[0]
            zb, rb, zyb = z[:m], row[:m], z_y[:m]
            np.matmul(xb, w.T, out=zb)
            zb += b
            np.max(zb, axis=1, keepdims=True, out=rb)
            zb -= rb                                    # z - max z: exp can't overflow
            np.take(zb.reshape(-1), at_target[i], out=zyb)
            np.exp(zb, out=zb)
            np.sum(zb, axis=1, keepdims=True, out=rb)
            zb /= rb                                    # p = softmax(z)
            np.log(rb, out=rb)                          # logsumexp(z) - max z
            total += float(rb.sum()) - float(zyb.sum())
            zb -= y_one_hot[s:s + m]                    # p - Y: N times dcost/dz
            # the gradient's matmul reads xb again, now from the cache
            np.matmul(zb.T, xb, out=block_w if i else grad_w)
            np.sum(zb, axis=0, out=block_b if i else grad_b)
            if i:
                grad_w += block_w
                grad_b += block_b
        costs[epoch] = total / n
        grad_w *= scale
        w -= grad_w
        grad_b *= scale
        b -= grad_b
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(costs[epoch]))
    return costs, w, b


def _check_plain_sgd(n, batches, momentum, dampening, nesterov, weight_decay):
    """The fast paths cover full-batch plain SGD; anything else is an error that names the option."""
    if batches is not None and (not batches.full_batch or batches.shuffle):
        what = f"batch_size {batches.batch_size}" if not batches.full_batch else "shuffled rows"
        raise BackendError(f"the fast path trains full batch only, in row order; this run asks for {what} "
                         "(use the lesson variant)")
    for name, value in (("momentum", momentum), ("dampening", dampening), ("nesterov", nesterov),
                        ("weight_decay", weight_decay)):
        if value:
            raise BackendError(f"the fast path is plain SGD; this run asks for {name} = {value!r} "
                             "(use the lesson variant)")
