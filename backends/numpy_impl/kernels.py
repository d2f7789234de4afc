"""The NumPy fast path's loop compiled with numba: one pass over X per epoch, in row groups.

``fast.train_fast`` is NumPy calls: each call is one pass over its whole array, so an epoch
is about twenty passes over the (N, C) logits plus two BLAS matmuls whose output has only C
columns (C = 10: BLAS runs such thin shapes far below its square-matmul rate). Here the epoch
is one loop over X's rows, 4 at a time, compiled by numba (LLVM) for this CPU:

1. the 4 rows' logits z = x W^T + b: for each class, 4 dot products that share each load of
   W's row (4 FMA chains the compiler vectorizes);
2. softmax, loss and p - Y on those 4 x C numbers, in a small buffer that stays in the L1 cache;
3. the gradient: (p - Y)^T x for the same 4 rows, read again from the L1 cache, added into
   the thread's (C, D) gradient.

X is read from memory once per epoch (best from a 64-byte-aligned X: ``fast.aligned``). Rows
are split into one contiguous range per thread, each with its own gradient buffer; the buffers
are summed in a fixed order, so a run's numbers depend on the thread count only up to the order
of float sums, never on timing.

The compiler may reassociate sums (to vectorize them) and fuse multiply-adds, nothing else:
NaN and inf keep their meaning, so a diverging run still stops where ``train.train`` stops.
numba is optional (``pip install 'softmax-rosetta[numba]'``); ``fast.train_compiled`` imports
this module only when it runs.
"""

import math
import types

import numba
import numpy as np

# reassociate (vectorize the sums) and contract (fused multiply-add); not nnan/ninf, which
# would let the compiler assume a diverging run's inf and nan away
FASTMATH = {"reassoc", "contract"}
ROWS = 4  # rows per group: 4 dot-product chains share each load of a row of W


@numba.njit(fastmath=FASTMATH, cache=True)
def _rows(x, y, w, b, first, last, grad_w, grad_b):
    """Rows first..last-1: their logits, softmax and gradient, added into grad_w (C, D) and
    grad_b (C,). Returns the sum of their losses (float64)."""
    c, d = w.shape
    z = np.empty((ROWS, c), dtype=w.dtype)  # logits, then p - Y
    zero = w.dtype.type(0)  # sums stay in the data's dtype, as in NumPy
    total = 0.0
    for i in range(first, last, ROWS):
        m = min(ROWS, last - i)
        # 1. logits
        if m == ROWS:
            x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
            for j in range(c):
                wj = w[j]
                a0 = a1 = a2 = a3 = zero
                for k in range(d):
                    a0 += x0[k] * wj[k]
                    a1 += x1[k] * wj[k]
                    a2 += x2[k] * wj[k]
                    a3 += x3[k] * wj[k]
                z[0, j], z[1, j], z[2, j], z[3, j] = a0 + b[j], a1 + b[j], a2 + b[j], a3 + b[j]
        else:
            for r in range(m):
                xr = x[i + r]
                for j in range(c):
                    wj = w[j]
                    a = zero
                    for k in range(d):
                        a += xr[k] * wj[k]
                    z[r, j] = a + b[j]
        # 2. softmax, loss, p - Y (in z)
        for r in range(m):
            top = z[r, 0]
            for j in range(1, c):
                top = max(top, z[r, j])
            target = y[i + r]
            total += top - z[r, target]  # the loss is logsumexp(z) - z[y] = log(sum) + top - z[y]
            s = zero
            for j in range(c):
                z[r, j] = math.exp(z[r, j] - top)
                s += z[r, j]
            total += math.log(s)
            for j in range(c):
                z[r, j] /= s
            z[r, target] -= 1
        # 3. gradient: grad_w[j] += sum over the rows of (p - Y)[r, j] x[r]
        for j in range(c):
            gj = grad_w[j]
            if m == ROWS:
                g0, g1, g2, g3 = z[0, j], z[1, j], z[2, j], z[3, j]
                for k in range(d):
                    gj[k] += g0 * x0[k] + g1 * x1[k] + g2 * x2[k] + g3 * x3[k]
                grad_b[j] += g0 + g1 + g2 + g3
            else:
                for r in range(m):
                    xr, g = x[i + r], z[r, j]
                    for k in range(d):
                        gj[k] += g * xr[k]
                    grad_b[j] += g
    return total


@numba.njit(fastmath=FASTMATH, cache=True)
def _update(w, b, grad_w, grad_b, scale, losses):
    """Sum the threads' gradients and losses in a fixed order (the same numbers on every run),
    then W <- W - scale * grad, b likewise. Returns the summed loss. Compiled on its own, so the
    parallel loop below keeps one parallel region an epoch (numba would split these array
    operations across threads too, each a region of its own)."""
    for t in range(1, grad_w.shape[0]):
        grad_w[0] += grad_w[t]
        grad_b[0] += grad_b[t]
    w -= scale * grad_w[0]
    b -= scale * grad_b[0]
    total = 0.0
    for loss in losses:
        total += loss
    return total


def _train(x, y, w, b, scale, costs, bounds, grad_w, grad_b):
    """Epochs 0..len(costs)-1 of full-batch SGD on w, b (updated in place), with
    scale = lr / N. Thread t takes rows bounds[t]..bounds[t+1]-1 into grad_w[t], grad_b[t].
    Returns how many costs were written: fewer than len(costs) when a cost turned inf or nan."""
    n = x.shape[0]
    parts = len(bounds) - 1
    losses = np.empty(parts)
    for epoch in range(len(costs)):
        for t in numba.prange(parts):
            gw, gb = grad_w[t], grad_b[t]
            for j in range(gw.shape[0]):
                gb[j] = 0
                for k in range(gw.shape[1]):
                    gw[j, k] = 0
            losses[t] = _rows(x, y, w, b, bounds[t], bounds[t + 1], gw, gb)
        cost = _update(w, b, grad_w, grad_b, scale, losses) / n
        costs[epoch] = cost
        if not math.isfinite(cost):
            return epoch + 1
    return len(costs)


def _renamed(fn, name):
    """A copy of ``fn`` called ``name``. numba names its cache files after the function, and its
    cache key leaves out ``parallel``: two builds of one function would share one file, and a
    process could load the parallel build as the serial one."""
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)


# the same loop twice: one thread (no thread pool to wake each epoch), and across threads
train_serial = numba.njit(fastmath=FASTMATH, cache=True)(_train)
train_parallel = numba.njit(fastmath=FASTMATH, parallel=True, cache=True)(_renamed(_train, "_train_parallel"))
