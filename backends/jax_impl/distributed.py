"""Data-parallel training in JAX: one compiled step over a device Mesh, the batch split along its data axis.

``train.train`` runs each step on one device. Here the same step runs on ``workers`` devices at once:

- a ``Mesh`` of the devices with one axis, ``"data"``;
- each batch's rows placed with ``NamedSharding(mesh, P("data"))``: device k holds the k-th
  share of the rows; the model's and the optimizer's state placed with
  ``NamedSharding(mesh, P())``: every device holds all of it (replicated);
- the step is ``train.train_step``'s body under ``jax.jit`` with those shardings. The loss is a sum
  over rows spread across devices, so the compiler (XLA's SPMD partitioner) inserts the
  all-reduce that adds the devices' partial sums of the loss and of its gradients: there is no
  collective to write, and every device applies the same update to its copy of the parameters.

A batch whose rows don't divide by ``workers`` is padded up to a multiple of it with masked rows:
the loss is the sum of the real rows' losses over their count, the batch's own mean, so costs and
gradients are the global ones whatever the split. What changes against one device is the order
in which the sums are added (per device, then across devices): float64 runs agree to rounding,
float32 ones to float32's (docs/distributed.md).

On a CPU, JAX has one device unless told otherwise before it starts: ``jax.config.update(
"jax_num_cpu_devices", K)`` right after ``import jax``, or JAX_NUM_CPU_DEVICES=K (or
XLA_FLAGS=--xla_force_host_platform_device_count=K) in the environment. With several processes,
``initialize`` connects them first (``jax.distributed.initialize``), ``jax.devices()`` then lists
every process's devices, and the same code runs one global program: each process feeds its
devices' rows, and every process ends with the same parameters.
"""

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from softmax_rosetta.checks import BackendError

from .model import init_model, weight_and_bias
from .train import make_optimizer

AXIS = "data"


def initialize(coordinator_address, num_processes, process_id, timeout=60):
    """Join a multi-process run: ``jax.distributed.initialize``, with gloo for the CPU's collectives.

    coordinator_address "host:port" is process 0's (it serves there); every process calls this
    before anything else in JAX runs, with its own process_id in 0..num_processes-1. It gives up
    after ``timeout`` seconds when a process doesn't join.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address, num_processes=num_processes, process_id=process_id, initialization_timeout=timeout
    )


def make_mesh(workers, platform):
    """The first ``workers`` devices of the platform (every process's, in a multi-process run) as a 1-D Mesh."""
    devices = jax.devices(platform)
    if workers > len(devices):
        hint = (
            f"; on a CPU, start JAX with JAX_NUM_CPU_DEVICES={workers} "
            f"(or XLA_FLAGS=--xla_force_host_platform_device_count={workers})"
            if platform == "cpu"
            else ""
        )
        raise BackendError(f"workers: {workers} is more than the {len(devices)} {platform} devices JAX has{hint}")
    return Mesh(np.array(devices[:workers]), (AXIS,))


def loss_fn(model, x, y, real, rows):
    """The batch's mean cross-entropy over its ``rows`` real rows; padding rows (``real`` False) count 0."""
    losses = optax.softmax_cross_entropy_with_integer_labels(model(x), y)
    return jnp.where(real, losses, 0).sum() / rows


def _step(graphdef, state, x, y, real, rows):
    """``train.train_step``'s body on the model and optimizer state (nnx.split), for jax.jit's shardings."""
    model, optimizer = nnx.merge(graphdef, state)
    cost, grads = nnx.value_and_grad(loss_fn)(model, x, y, real, rows)
    optimizer.update(model, grads)
    return nnx.state((model, optimizer)), cost


@cache
def compiled_step(graphdef, mesh):
    """The step under jax.jit with its shardings: the state and the row count replicated, the batch
    split along the mesh's data axis. Cached: one jitted function per model structure and mesh."""
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    return jax.jit(
        partial(_step, graphdef),
        in_shardings=(replicated, split, split, split, replicated),
        out_shardings=(replicated, replicated),
    )


def _place(host_array, sharding):
    """A host array as a global array with ``sharding``: each process gives its own devices' parts."""
    return jax.make_array_from_callback(host_array.shape, sharding, lambda index: host_array[index])


def _local(array):
    """A replicated global array as a one-device array on this process's first device."""
    return array.addressable_data(0)


def train_data_parallel(
    x,
    y,
    weight,
    bias,
    lr,
    epochs,
    log_every=0,
    log=None,
    *,
    workers,
    batches=None,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
):
    """``train.train`` on ``workers`` devices: the same batches, epochs, costs and parameters.

    x (N, D), y (N,), weight (C, D), bias (C,) are jax arrays (every process has all of them in a
    multi-process run). Each step's rows are padded to a multiple of ``workers`` and split across
    the mesh; each worker needs at least one real row (``BackendError`` otherwise).
    Returns (costs (epochs + 1,), weight (C, D), bias (C,)) on this process's first device.
    """
    platform = next(iter(x.devices())).platform
    mesh = make_mesh(workers, platform)
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    x_host, y_host = np.asarray(x), np.asarray(y)
    n = x_host.shape[0]

    model = init_model(weight, bias)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    graphdef, state = nnx.split((model, optimizer))
    state = jax.tree.map(lambda a: _place(np.asarray(a), replicated), state)

    everything = np.arange(n)
    placed: dict[str, tuple] = {}  # the whole data in order (a full batch), placed on the devices once

    def place(rows):
        size = len(rows)
        whole = size == n and np.array_equal(rows, everything)
        if whole and "all" in placed:
            return placed["all"]
        padded = -(-size // workers) * workers
        index = np.concatenate([rows, np.zeros(padded - size, rows.dtype)])
        real = np.arange(padded) < size
        arrays = tuple(_place(a, split) for a in (x_host[index], y_host[index], real))
        if whole:
            placed["all"] = arrays
        return arrays

    costs = []
    for epoch in range(epochs + 1):
        epoch_cost = 0.0
        for rows in batches(epoch) if batches is not None else [everything]:
            size = len(rows)
            if size < workers:
                raise BackendError(f"workers: {workers} is more than the {size} rows of a batch of epoch {epoch}")
            xb, yb, rb = place(rows)
            state, cost = compiled_step(graphdef, mesh)(state, xb, yb, rb, x_host.dtype.type(size))
            cost = _local(cost)
            epoch_cost = epoch_cost + cost * (size / n)  # as train.train: full batch, * 1.0
        costs.append(epoch_cost)
        if log is not None and log_every and epoch % log_every == 0:
            log(epoch, float(epoch_cost))
        if not jnp.isfinite(epoch_cost):  # diverged: stop here, as train.train does
            break
    model, _ = nnx.merge(graphdef, state)
    weight, bias = weight_and_bias(model)
    return jnp.stack(costs), _local(weight), _local(bias)
