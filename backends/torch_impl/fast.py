"""The lesson's loop made fast in PyTorch: the same trajectory as ``train.train``, without autograd.

``train.train`` is the lesson as written: nn.Linear, F.cross_entropy, ``backward()`` and
optim.SGD, about twenty tensor ops a step, each with its dispatch cost, plus the autograd
graph built and walked every step. For a linear classifier the gradient is short enough to
write out, so here each step is sixteen small ops on preallocated tensors, updated in place:

    z^T = W x^T + b                                mm into a (C, N) buffer, add_ (large X: see step)
    cost = mean of logsumexp(z) - z[y]             amax, sub_, gather, exp_, sum, log, sub_, mean
    (p - Y)^T                                      div_ (p = softmax(z)), sub_ (Y made once)
    W <- W - (lr / N) (p - Y)^T x                  mm into a buffer, sub_ (1/N and lr in one scale)
    b <- b - (lr / N) sum over rows of (p - Y)     sum, sub_

Why not F.log_softmax, one op where this takes six: on the CPU, torch's (log_)softmax kernel
opens an OpenMP parallel region whatever the size, so with 2 threads even a call on an 8 x 3
tensor pays for starting the other thread, and far more when another process holds the other
core (the spinning thread waits for a time slice). amax, sum and the elementwise ops stay on
one thread below 32768 elements. docs/benchmarks.md has the measurements.

Two variants with the same code:
- ``train_fast``: the step in eager mode;
- ``train_compiled``: the same step through ``torch.compile`` (Inductor fuses the elementwise
  ops into one generated kernel, and writes the logits' x W^T as a loop of its own instead of
  calling MKL: ``_functional_step``). Its first call compiles; ``compile_step`` lets a caller
  pay for that apart, as the benchmark does.

Both cover full-batch plain SGD only (the benchmark's workloads): no mini-batches, momentum,
dampening, Nesterov or weight decay; asking for them is a ``BackendError`` naming the option.
A run whose cost turns inf or nan stops there, its costs ending with that epoch's, as in
``train.train`` (see ``_check_every`` for a GPU).
"""

import math

import torch
import torch.nn.functional as F

from softmax_rosetta.checks import check_plain_sgd

# Below this many elements of X the logits come out as W x^T (step) and the compiled step does
# its softmax on the transposed logits (_functional_step): faster there, slower above.
CLASSES_FIRST_BELOW = 1 << 20


@torch.no_grad()
def step(x, y, y_one_hot_t, w, b, z, z_t, row, log_row, z_y, grad_w, scale):
    """One epoch, in place: returns the cost before the step, updates w (C, D) and b (C,).

    The softmax runs on the logits transposed, (C, N): torch, like NumPy, reduces over 10
    classes along the last dim slowly, along the first quickly.
    y (1, N) class indices, y_one_hot_t (C, N); z (N, C) or None, z_t (C, N), row, log_row
    and z_y (1, N), grad_w (C, D) are buffers; scale = lr / N.

    z None: the logits come straight out as W x^T (C, N); MKL does that faster than x W^T on
    a small X (the digits), slower on a large one (100,000 x 784), where z = x W^T is written
    first and transposed in the bias's pass. docs/benchmarks.md has the measurements.
    """
    if z is None:
        torch.mm(w, x.t(), out=z_t)
        z_t.add_(b.unsqueeze(1))  # z^T = W x^T + b
    else:
        torch.mm(x, w.t(), out=z)
        torch.add(z.t(), b.unsqueeze(1), out=z_t)  # z^T = (x W^T)^T + b, transposed in the same pass
    torch.amax(z_t, dim=0, keepdim=True, out=row)
    z_t.sub_(row)  # z - max z: exp can't overflow
    torch.gather(z_t, 0, y, out=z_y)
    z_t.exp_()
    torch.sum(z_t, dim=0, keepdim=True, out=row)
    cost = torch.log(row, out=log_row).sub_(z_y).mean()  # mean of logsumexp(z) - z[y]
    z_t.div_(row)  # p^T = softmax(z)^T
    z_t.sub_(y_one_hot_t)  # (p - Y)^T: N times dcost/dz, transposed
    torch.mm(z_t, x, out=grad_w)
    # not w.addmm_(z_t, x, alpha=-scale), one op fewer: on the CPU its rounding drifts from
    # the lesson's 2-3 times more than the other backends do (1.4e-6 vs 5e-7 in float32)
    w.sub_(grad_w, alpha=scale)
    b.sub_(z_t.sum(dim=1), alpha=scale)
    return cost


def _functional_step(x, y_one_hot, w, b, scale, classes_first):
    """The same step as ``step`` without writing into its inputs, for torch.compile: a compiled
    graph returns new tensors; Inductor fuses log_softmax, the cost, exp and the subtraction.

    classes_first: the softmax on z^T (C, N), as ``step`` does: faster on a small X (the
    digits). On a large X, Inductor's kernels for the (N, C) layout were not slower.
    """
    n = x.shape[0]
    # x W^T as a broadcast multiply and a sum over D: eagerly that would build an (N, C, D)
    # tensor, but Inductor turns it into one vectorized loop of its own, fused with the bias and
    # the softmax, that never does: faster here than MKL's sgemm on a 10-column output.
    xw = (x[:, None, :] * w[None, :, :]).sum(dim=-1)
    if classes_first:
        z = xw.t() + b.unsqueeze(1)
        y_one_hot = y_one_hot.t()
    else:
        z = xw + b
    dim = 0 if classes_first else 1  # the classes' dim
    log_p = F.log_softmax(z, dim=dim)
    cost = -(log_p * y_one_hot).sum() / n
    dz = log_p.exp() - y_one_hot  # p - Y, or its transpose
    grad_w = dz @ x if classes_first else dz.t() @ x
    return cost, w - scale * grad_w, b - scale * dz.sum(dim=1 - dim)


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
):
    """Epochs 0..epochs inclusive of full-batch SGD, the same trajectory as ``train.train``.

    x (N, D), y (N,) int64, weight (C, D), bias (C,): tensors on one device.
    Returns (costs (epochs + 1,), weight (C, D), bias (C,)) as new tensors.
    """
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    n, c = x.shape[0], weight.shape[0]
    w, b = weight.clone(), bias.clone()
    like = {"dtype": x.dtype, "device": x.device}
    y_one_hot_t = F.one_hot(y, c).to(x.dtype).t().contiguous()
    z = None if x.numel() < CLASSES_FIRST_BELOW else torch.empty(n, c, **like)
    z_t = torch.empty(c, n, **like)
    row, log_row, z_y = (torch.empty(1, n, **like) for _ in range(3))
    grad_w = torch.empty_like(w)
    y = y.unsqueeze(0)
    costs = torch.empty(epochs + 1, **like)
    scale = lr / n
    every = _check_every(x.device)
    for epoch in range(epochs + 1):
        cost = step(x, y, y_one_hot_t, w, b, z, z_t, row, log_row, z_y, grad_w, scale)
        costs[epoch] = cost
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, cost.item())
        if _diverged(cost, costs, epoch, epochs, every):
            return _up_to_divergence(costs), w, b
    return costs, w, b


_compiled: dict = {}


def compile_step(x, y, weight, bias, lr):
    """``torch.compile`` of one step for these shapes, dtype, device and lr, compiled now.

    Returns the compiled step; calling this again with the same arguments' shapes returns the
    cached one at once. The compile runs one step on copies, so nothing passed in changes.
    """
    key = (tuple(x.shape), weight.shape[0], x.dtype, str(x.device), float(lr))
    if key not in _compiled:
        scale = lr / x.shape[0]
        classes_first = x.numel() < CLASSES_FIRST_BELOW

        def compiled_step(x, y_one_hot, w, b):
            return _functional_step(x, y_one_hot, w, b, scale, classes_first)

        fn = torch.compile(compiled_step, dynamic=False, fullgraph=True)
        with torch.no_grad():
            fn(x, F.one_hot(y, weight.shape[0]).to(x.dtype), weight.clone(), bias.clone())
        _compiled[key] = fn
    return _compiled[key]


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
):
    """``train_fast`` with the step compiled by ``torch.compile`` (Inductor); the first call for a
    shape compiles it (see ``compile_step``). Same arguments, same result."""
    check_plain_sgd(batches, momentum, dampening, nesterov, weight_decay)
    fn = compile_step(x, y, weight, bias, lr)
    w, b = weight.clone(), bias.clone()
    y_one_hot = F.one_hot(y, weight.shape[0]).to(x.dtype)
    costs = torch.empty(epochs + 1, dtype=x.dtype, device=x.device)
    every = _check_every(x.device)
    with torch.no_grad():
        for epoch in range(epochs + 1):
            cost, w, b = fn(x, y_one_hot, w, b)
            costs[epoch] = cost
            if log is not None and log_every and epoch % log_every == 0:
                log(epoch, cost.item())
            if _diverged(cost, costs, epoch, epochs, every):
                return _up_to_divergence(costs), w, b
    return costs, w, b


def _check_every(device):
    """How often to look for a non-finite cost: every epoch on the CPU, where reading a number
    back is cheap; every 100 on a GPU, where it would make the host wait for each step. So on
    a GPU a diverged run may take up to 99 steps more (on parameters already inf or nan) before
    it stops; its costs end at the first non-finite one either way."""
    return 1 if device.type == "cpu" else 100


def _diverged(cost, costs, epoch, epochs, every):
    """Whether a cost so far is inf or nan, looked at every ``every`` epochs and at the last."""
    if every == 1:
        return not math.isfinite(cost.item())
    if epoch % every and epoch != epochs:
        return False
    return not bool(torch.isfinite(costs[max(0, epoch - every + 1) : epoch + 1]).all())


def _up_to_divergence(costs):
    """The costs up to and including the first non-finite one (as train.train returns them)."""
    first = int(torch.nonzero(~torch.isfinite(costs))[0, 0])
    return costs[: first + 1]
