"""The lesson's loop, data parallel: K processes, DistributedDataParallel, each rank a share of every batch.

``train_data_parallel`` starts K processes with torch's own launcher (``elastic_launch``, what
``torchrun`` runs), gloo on the CPU and NCCL on CUDA. Each rank builds the lesson's model from
the same initial parameters, wraps it in ``DistributedDataParallel`` and steps through the same
batches as one process would (``batches(epoch)``), taking its consecutive block of each batch's
rows (``softmax_rosetta.data.shard``).

The cost is the batch's mean: each rank computes the SUM of its rows' losses over the batch's
total rows, and the gradients are summed across ranks (``_allreduce_sum``: DDP would average
them), so the sum over ranks is the global mean, whatever the share of each rank. Only the
order of the additions differs from one process: see docs/distributed.md.

``train_rank`` is one rank's loop inside a process group that is already set up: the same code
``torchrun`` runs across machines (docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import uuid

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch
from torch.nn.parallel import DistributedDataParallel

from softmax_rosetta.checks import BackendError
from softmax_rosetta.data import shard

from .model import init_model, weight_and_bias
from .train import make_optimizer

SHUTDOWN_SECONDS = 5  # a rank that outlives its SIGTERM this long is killed (SIGKILL)
_LAUNCHER_SIGNALS = "SIGQUIT"  # what torch's launcher handles itself (_own_signals)
_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)  # torch's default list
_SIGNALS_VARIABLE = "TORCHELASTIC_SIGNALS_TO_HANDLE"


def _allreduce_sum(state, bucket):
    """DDP communication hook: each gradient summed over the ranks (DDP's own hook averages)."""
    future = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return future.then(lambda done: done.value()[0])


def loss_fn(model, x, y, batch_rows):
    """This rank's part of the batch's mean cross-entropy: its rows' summed losses over the batch's rows."""
    return F.cross_entropy(model(x), y, reduction="sum") / batch_rows


def train_rank(
    x,
    y,
    weight,
    bias,
    lr,
    epochs,
    *,
    batches=None,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
    num_rows=None,
):
    """One rank's loop, in an initialised process group: every rank returns the same (costs, weight, bias).

    x (N, D), y (N,): the rows ``batches(epoch)`` indexes (None: one full batch); each step this
    rank uses its ``shard`` of the batch. Full batch, a rank may hold its own rows alone: x and y
    are then its ``shard`` of all ``num_rows`` rows (``data.load_dataset`` and ``data.synthetic``
    with ``rank`` and ``world_size`` make just those). An epoch's cost, summed over the ranks once per epoch, is
    sum over batches of (batch mean) * (B_b / N), as in train.py; a non-finite cost stops every
    rank after that epoch.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    if num_rows is not None and batches is not None:
        raise BackendError("num_rows: a rank holds only its own rows in full-batch runs alone (batches=None)")
    n = x.shape[0] if num_rows is None else num_rows
    model = DistributedDataParallel(init_model(weight, bias))  # rank 0's parameters: the same everywhere
    model.register_comm_hook(None, _allreduce_sum)
    optimizer = make_optimizer(model, lr, momentum, dampening, nesterov, weight_decay)
    costs = torch.zeros(epochs + 1, dtype=x.dtype, device=x.device)
    everything = np.arange(n, dtype=np.int64)
    for epoch in range(epochs + 1):
        for rows in batches(epoch) if batches is not None else [everything]:
            mine = slice(None) if num_rows is not None else _rows_of(shard(rows, rank, world), x.device)
            cost = loss_fn(model, x[mine], y[mine], len(rows))
            optimizer.zero_grad()
            cost.backward()  # DDP sums the gradients across the ranks here
            optimizer.step()
            costs[epoch] += cost.detach() * (len(rows) / n)
        dist.all_reduce(costs[epoch : epoch + 1])
        if not torch.isfinite(costs[epoch]):  # the same sum on every rank: all stop together
            return costs[: epoch + 1], *weight_and_bias(model.module)
    return costs, *weight_and_bias(model.module)


def _rows_of(rows, device):
    """This rank's rows as an index for x[...]: a slice (a view, no copy) when they are one run of
    consecutive rows, as in a full batch, else an index tensor (a gather, as a shuffled batch needs)."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1 and np.all(np.diff(rows) == 1):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return torch.as_tensor(rows, device=device)


def _rank_main(arrays, lr, epochs, options, device, threads):
    """The entry point of each launched process: set up the process group, train, rank 0 returns NumPy."""
    from .backend import full_float32_precision  # backend.py imports this module

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # stopped, a rank dies at once and silently,
        signal.signal(sig, signal.SIG_DFL)  # even inside a collective; the launcher's process reports it
    torch.set_num_threads(threads)
    local_rank = int(os.environ["LOCAL_RANK"])
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        where = torch.device("cuda", local_rank)
    else:
        where = torch.device("cpu")
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    try:
        x, y, weight, bias = (torch.from_numpy(a).to(where) for a in arrays)
        with full_float32_precision():
            costs, weight, bias = train_rank(x, y, weight, bias, lr, epochs, **options)
        if dist.get_rank() != 0:
            return None
        return tuple(t.cpu().numpy() for t in (costs, weight, bias))
    finally:
        dist.destroy_process_group()


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
    """train.py's ``train``, on ``workers`` processes of this machine: (costs, weight, bias) tensors.

    The processes meet at MASTER_ADDR:MASTER_PORT where those are set (localhost and a free port
    otherwise); a port in use, a rank that fails or dies is a ``BackendError`` naming it, after
    every process has been stopped. Rank 0's result comes back; ``log(epoch, cost)`` is called
    here, once the run is over.
    """
    device = x.device.type
    if device == "cuda" and workers > torch.cuda.device_count():
        raise BackendError(
            f"workers: {workers} processes need {workers} GPUs, this machine has {torch.cuda.device_count()}"
        )
    endpoint = _endpoint()
    arrays = tuple(t.detach().cpu().numpy() for t in (x, y, weight, bias))
    options = {"batches": batches, "momentum": momentum, "dampening": dampening, "nesterov": nesterov}
    options["weight_decay"] = weight_decay
    threads = max(1, torch.get_num_threads() // workers)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="softmax-rosetta-ddp-") as logs,
            _quiet_launcher(),
            _own_signals(),
            _stderr_to(os.path.join(logs, "stderr.txt")),
        ):
            config = LaunchConfig(
                min_nodes=1,
                max_nodes=1,
                nproc_per_node=workers,
                run_id=uuid.uuid4().hex,
                rdzv_backend="c10d",
                rdzv_endpoint=endpoint,
                max_restarts=0,
                monitor_interval=0.1,
                start_method="spawn",
                logs_specs=DefaultLogsSpecs(log_dir=logs),
                **_signal_options(),
            )
            try:
                returned = elastic_launch(config, _rank_main)(arrays, lr, epochs, options, device, threads)
            except ChildFailedError as exc:
                raise BackendError(f"workers: {_failure(exc)}") from None
    except SignalException as exc:  # SIGQUIT: the launcher stopped the ranks; now as if it weren't there
        signal.raise_signal(exc.sigval)  # the caller's handler for it, its handlers being back
        raise BackendError(f"workers: stopped by {exc.sigval.name}") from None
    costs, weight, bias = (torch.from_numpy(a).to(x.device) for a in returned[0])
    if log is not None and log_every:
        for epoch in range(0, len(costs), log_every):
            log(epoch, costs[epoch].item())
    return costs, weight, bias


def _endpoint():
    """Where the ranks meet: MASTER_ADDR:MASTER_PORT if set, after checking the port is free here.

    Any value a user can type is a one-line ``BackendError`` naming the variable: not a number,
    out of 1..65535, a host that doesn't resolve, or an address and port this machine can't listen on.
    """
    port = os.environ.get("MASTER_PORT")
    if not port:
        return "localhost:0"  # the launcher picks a free port
    host = os.environ.get("MASTER_ADDR") or "localhost"
    try:
        number = int(port)
    except ValueError:
        raise BackendError(f"MASTER_PORT: expected a port number, got {port!r}") from None
    if not 1 <= number <= 65535:
        raise BackendError(f"MASTER_PORT: expected a port number from 1 to 65535, got {port!r}")
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror; a label too long; a NUL in the name
        reason = getattr(exc, "strerror", None) or str(exc)
        raise BackendError(f"MASTER_ADDR: can't resolve {host!r} ({reason})") from None
    try:
        with socket.socket(family, kind) as s:
            s.bind(address)
    except OSError as exc:  # in use, a port this user may not take; or an address not of this machine
        name = "MASTER_ADDR" if exc.errno == errno.EADDRNOTAVAIL else "MASTER_PORT"
        raise BackendError(f"{name}: can't listen on {host}:{number} ({exc.strerror or exc})") from None
    return f"{host}:{number}"


def _failure(exc):
    """One line for the first failed rank: its exception's last line, or how it died."""
    rank, failure = exc.get_first_failure()
    message = failure.message if isinstance(failure.message, str) else str(failure.message)
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if failure.exitcode < 0:
        import signal

        with contextlib.suppress(ValueError):
            return f"rank {rank} (pid {failure.pid}) was killed by {signal.Signals(-failure.exitcode).name}"
    if lines and not lines[-1].startswith("To enable traceback"):
        return f"rank {rank} (pid {failure.pid}) failed: {lines[-1]}"
    return f"rank {rank} (pid {failure.pid}) exited with status {failure.exitcode}"


def _signal_options():
    """``LaunchConfig``'s signal options, where this torch has them (2.9 and newer): older launchers
    handle SIGINT, SIGTERM, SIGHUP and SIGQUIT themselves, and their ``SignalException`` is turned
    back into the signal by ``train_data_parallel`` all the same."""
    import dataclasses

    have = {f.name for f in dataclasses.fields(LaunchConfig)}
    wanted = {"signals_to_handle": _LAUNCHER_SIGNALS, "shutdown_timeout": SHUTDOWN_SECONDS}
    return {name: value for name, value in wanted.items() if name in have}


@contextlib.contextmanager
def _stderr_to(path):
    """File descriptor 2 pointed at ``path`` during the launch, so that the ranks, which inherit
    it, write there: a rank stopped while it starts (Ctrl-C reaches the whole process group
    before its handlers are set) prints a traceback that is not the caller's. A rank's failure
    still comes back in one line (``_failure``, from torch's error file)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr to keep: nothing to point elsewhere
        yield
        return
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _own_signals():
    """The process's signal handlers, and torch's variable for them, as they were before the launch.

    The launcher handles the signals it is told to (``signals_to_handle``) with handlers of its
    own, left in place after it returns, and sets TORCHELASTIC_SIGNALS_TO_HANDLE in this process's
    environment. It is told SIGQUIT alone: Ctrl-C, SIGTERM and SIGHUP reach the caller's own
    handlers (a command line's one-line exit), and the launcher's ``finally`` stops the ranks
    (SIGTERM, then SIGKILL after ``SHUTDOWN_SECONDS``) as the exception goes by.
    """
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in _HANDLED} if main else {}
    variable = os.environ.get(_SIGNALS_VARIABLE)
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            if handler is not None:  # None: set outside Python, left alone
                signal.signal(sig, handler)
        if variable is None:
            os.environ.pop(_SIGNALS_VARIABLE, None)
        else:
            os.environ[_SIGNALS_VARIABLE] = variable


@contextlib.contextmanager
def _quiet_launcher():
    """The launcher logs each failure at length on stderr; the error raised here says it in one line."""
    logger = logging.getLogger("torch.distributed.elastic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
