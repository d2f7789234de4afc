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

import math

import numpy as np

from softmax_rosetta.checks import check_plain_sgd

# Rows per block: a block of X should stay in the cache between its two matmuls. 8 MiB of X per
# block (2730 rows at D = 784 in float32) stays in a 32 MiB L3 and is big enough that each BLAS
# call still splits well over 2 threads; 1 MiB blocks (in a 2 MiB L2) were slower, as the BLAS
# calls got short. docs/benchmarks.md has the measurements.
BLOCK_BYTES = 8 << 20
# Up to two blocks' worth, X is read in one block: one BLAS call per matmul.
UNBLOCKED_BYTES = 2 * BLOCK_BYTES


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
    block_rows=None,
):
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int class indices, weight (C, D), bias (C,), all NumPy; lr in x's dtype.
    Each epoch, with z = x W^T + b, p = softmax(z), Y = one_hot(y):

        cost  = mean over rows of logsumexp(z) - z[y]
        W    <- W - (lr / N) (p - Y)^T x          b <- b - (lr / N) sum over rows of (p - Y)

    block_rows: rows per block; None picks one from the size of X (one block when X is small,
    ``BLOCK_BYTES`` of X per block when it is large). Every block size gives the same numbers
    up to the order of the sums.

    Returns (costs (epochs + 1,), weight (C, D), bias (C,)), new arrays; a run whose cost turns
    inf or nan stops after that epoch, its costs ending there.
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    n, d = x.shape
    c = weight.shape[0]
    dtype = x.dtype
    if block_rows is None:
        block_rows = n if x.nbytes <= UNBLOCKED_BYTES else max(1, BLOCK_BYTES // (d * dtype.itemsize))
    if block_rows < 1:
        raise ValueError(f"block_rows: must be >= 1, got {block_rows!r}")
    block_rows = min(int(block_rows), n)
    w = np.array(weight, dtype=dtype)  # updated in place
    b = np.array(bias, dtype=dtype)
    scale = dtype.type(lr) / dtype.type(n)  # lr / N: one multiply on (C, D), not two on (N, C)

    starts = list(range(0, n, block_rows))
    # The softmax works on the logits transposed, (C, rows): NumPy reduces over a short last
    # axis slowly, one small reduction per row, and over the first axis as whole-row vector
    # ops (docs/benchmarks.md has the measurements); (p - Y)^T x is then a plain
    # (C, rows) @ (rows, D) matmul.
    y_one_hot_t = np.zeros((c, n), dtype=dtype)  # Y^T, made once
    y_one_hot_t[y, np.arange(n)] = 1
    # where z^T[y_i, i] sits in each block's flat (C, rows) logits
    at_target = [y[s : s + block_rows] * min(block_rows, n - s) + np.arange(min(block_rows, n - s)) for s in starts]

    # workspace, reused every block of every epoch
    z = np.empty((block_rows, c), dtype=dtype)  # x W^T, as the matmul writes it
    z_t_flat = np.empty(c * block_rows, dtype=dtype)  # z^T + b, then p^T, then (p - Y)^T
    row = np.empty((1, block_rows), dtype=dtype)  # each row's max, then its sum of exp, then 1 / sum
    log_row = np.empty((1, block_rows), dtype=dtype)  # log of each row's sum of exp
    z_y = np.empty(block_rows, dtype=dtype)
    grad_w = np.empty((c, d), dtype=dtype)
    grad_b = np.empty(c, dtype=dtype)
    block_w = np.empty((c, d), dtype=dtype) if len(starts) > 1 else grad_w
    block_b = np.empty(c, dtype=dtype) if len(starts) > 1 else grad_b
    b_column, w_t = b[:, None], w.T  # views: they follow the in-place updates
    costs = np.empty(epochs + 1, dtype=dtype)
    # each block's views, made once (a view costs about as much as a small ufunc call)
    blocks = []
    for i, s in enumerate(starts):
        m = min(block_rows, n - s)
        blocks.append(
            (
                x[s : s + m],
                z[:m],
                z_t_flat[: c * m].reshape(c, m),
                row[:, :m],
                log_row[:, :m],
                z_y[:m],
                at_target[i],
                y_one_hot_t[:, s : s + m],
                (block_w, block_b) if i else (grad_w, grad_b),
            )
        )

    for epoch in range(epochs + 1):
        total = 0.0
        for xb, zb, zt, rb, lrb, zyb, at, yb, (gw, gb) in blocks:  # xb: rows of X, a view
            np.matmul(xb, w_t, out=zb)
            np.add(zb.T, b_column, out=zt)  # transpose and add the bias in one pass
            np.max(zt, axis=0, keepdims=True, out=rb)
            zt -= rb  # z - max z: exp can't overflow
            np.take(z_t_flat, at, out=zyb)  # (z - max z)[y]
            np.exp(zt, out=zt)
            np.sum(zt, axis=0, keepdims=True, out=rb)
            np.log(rb, out=lrb)  # logsumexp(z) - max z
            lrb -= zyb  # each row's loss
            total += float(lrb.sum())
            np.reciprocal(rb, out=rb)
            zt *= rb  # p^T = softmax(z)^T (a multiply is faster than a divide)
            zt -= yb  # (p - Y)^T: N times dcost/dz, transposed
            # the gradient's matmul reads xb again, now from the cache
            np.matmul(zt, xb, out=gw)
            np.sum(zt, axis=1, out=gb)
            if gw is not grad_w:
                grad_w += gw
                grad_b += gb
        costs[epoch] = total / n
        grad_w *= scale
        w -= grad_w
        grad_b *= scale
        b -= grad_b
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(costs[epoch]))
        if not math.isfinite(total):  # diverged: stop here, as train.train does
            return costs[: epoch + 1], w, b
    return costs, w, b


# X at least this big is split across threads: below it, waking the thread pool each epoch costs
# more than the second thread saves (docs/benchmarks.md has the measurements)
PARALLEL_BYTES = 128 << 10


def train_compiled(
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
    threads=None,
):
    """``train_fast``'s trajectory, the epoch one compiled loop over X's rows (numba): with register
    tiles generated for C (``tiled.py``) where ``tiled.generated(C, D)``, else ``kernels.py``'s loop.

    The same arguments and result as ``train_fast``; threads: how many threads share the rows
    (None: numba's thread count when X is at least ``PARALLEL_BYTES``, else 1). The costs come
    all at once, so ``log`` is called after the run.
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    from . import kernels, tiled  # numba: an optional extra, imported when this variant runs

    n, d = x.shape
    c = weight.shape[0]
    dtype = x.dtype
    y = np.ascontiguousarray(y, dtype=np.int64)
    if n and (y.min() < 0 or y.max() >= c):  # the kernel indexes with y unchecked
        raise ValueError(f"y: class indices must be in [0, {c}), got {y.min()}..{y.max()}")
    if threads is None:
        threads = kernels.numba.get_num_threads() if x.nbytes >= PARALLEL_BYTES else 1
    threads = max(1, min(int(threads), n))
    w = np.array(weight, dtype=dtype)  # updated in place
    b = np.array(bias, dtype=dtype)
    costs = np.empty(epochs + 1, dtype=dtype)
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)  # thread t: rows bounds[t]..bounds[t+1]-1
    grad_w = np.empty((threads, c, d), dtype=dtype)
    grad_b = np.empty((threads, c), dtype=dtype)
    compiled = kernels
    if tiled.generated(c, d) and dtype in (np.float32, np.float64):
        compiled = tiled.module(c, dtype.name)  # register tiles, source generated for this C
    loop = compiled.train_parallel if threads > 1 else compiled.train_serial
    x = aligned(x)  # a copy when X doesn't start on a 64-byte boundary: one pass, paid back in a few epochs
    done = loop(x, y, w, b, dtype.type(lr) / dtype.type(n), costs, bounds, grad_w, grad_b)
    costs = costs[:done]
    if log is not None and log_every:
        for epoch in range(0, done, log_every):
            log(epoch, float(costs[epoch]))
    return costs, w, b


# AVX-512 loads 64 bytes: from an address that isn't a multiple of 64, each load straddles two
# cache lines. NumPy aligns its arrays to 16 bytes only (np.load's too).
ALIGN = 64


def aligned(x):
    """x, C-contiguous and starting on an ``ALIGN``-byte boundary: x itself when it is, else a copy.

    ``train_compiled`` reads X through this (torch's CPU allocator and XLA align their arrays to
    64 bytes; NumPy to 16). Its loop reads X once an epoch with 64-byte loads: on the bench's L
    workload an epoch took 19.8 ms from an aligned X and 25.5 to 26.1 ms from one 16, 32 or 48
    bytes off, and the copy costs about 30 ms once, page faults included (docs/benchmarks.md).
    """
    x = np.asarray(x)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if x.ctypes.data % ALIGN == 0 or x.nbytes == 0:
        return x
    raw = np.empty(x.nbytes + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    out = raw[start : start + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out
