"""Bad input to processes, signals and the bench's sizes: one line on stderr, the promised exit status.

A table per class: MASTER_PORT / MASTER_ADDR values for ``train torch --workers 2``, the bench's
``--size`` and its other command-line mistakes (``UsageError``, exit 2), and signals sent to real
runs of the command line at several moments after start-up (during imports and compiling, the
rendezvous, training): exit 130 (SIGINT) or 143 (SIGTERM), exactly one line on stderr, and no
process of the run's process group left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softmax_rosetta.testing import require_backend
from softmax_rosetta.tools.bench import workloads
from softmax_rosetta.tools.cli import main

EXE = Path(sys.executable).with_name("softmax-rosetta")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- MASTER_PORT / MASTER_ADDR ------------------------------------------------------------------

ENDPOINTS = [
    ({"MASTER_PORT": "99999"}, "MASTER_PORT: expected a port number from 1 to 65535, got '99999'"),
    ({"MASTER_PORT": "65536"}, "MASTER_PORT: expected a port number from 1 to 65535, got '65536'"),
    ({"MASTER_PORT": "-1"}, "MASTER_PORT: expected a port number from 1 to 65535, got '-1'"),
    ({"MASTER_PORT": "0"}, "MASTER_PORT: expected a port number from 1 to 65535, got '0'"),
    ({"MASTER_PORT": "abc"}, "MASTER_PORT: expected a port number, got 'abc'"),
    ({"MASTER_PORT": "29500.5"}, "MASTER_PORT: expected a port number, got '29500.5'"),
    (
        {"MASTER_PORT": "29517", "MASTER_ADDR": "no-such-host.invalid"},
        "MASTER_ADDR: can't resolve 'no-such-host.invalid' (",
    ),
    ({"MASTER_PORT": "29517", "MASTER_ADDR": "a" * 70}, f"MASTER_ADDR: can't resolve '{'a' * 70}' ("),
    (
        {"MASTER_PORT": "29517", "MASTER_ADDR": "192.0.2.1"},  # TEST-NET-1: never this machine's
        "MASTER_ADDR: can't listen on 192.0.2.1:29517 (",
    ),
]


@pytest.mark.parametrize(("env", "message"), ENDPOINTS, ids=[str(e) for e, _ in ENDPOINTS])
def test_master_port_and_addr_are_one_line(monkeypatch, capsys, env, message):
    require_backend("torch")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["train", "torch", "--workers", "2", "--epochs", "1"]) == 2
    assert _one_line(capsys).startswith(f"softmax-rosetta: error: {message}")


def test_master_port_in_use_is_one_line(monkeypatch, capsys):
    require_backend("torch")
    with socket.socket() as held:
        held.bind(("localhost", 0))
        held.listen()
        port = held.getsockname()[1]
        monkeypatch.setenv("MASTER_PORT", str(port))
        monkeypatch.delenv("MASTER_ADDR", raising=False)
        assert main(["train", "torch", "--workers", "2", "--epochs", "1"]) == 2
    assert _one_line(capsys).startswith(f"softmax-rosetta: error: MASTER_PORT: can't listen on localhost:{port} (")


# --- bench: --size and the other command-line mistakes -------------------------------------------

HUGE = 10**11
BENCH = [
    (["--size", str(HUGE)], f"softmax-rosetta: error: --size: {HUGE:,} rows of L need about "),
    (["--size", str(HUGE), "--workers", "1,2"], f"softmax-rosetta: error: --size: {HUGE:,} rows of L need about "),
    (["--size", str(10**30), "--workloads", "L"], f"softmax-rosetta: error: --size: {10**30:,} rows of L need about "),
    (["--size", "0"], "softmax-rosetta bench: error: argument --size: must be >= 1, got 0 (see --help)"),
    (["--size", "-3"], "softmax-rosetta bench: error: argument --size: must be >= 1, got -3 (see --help)"),
    (["--size", "1e5"], "softmax-rosetta bench: error: argument --size: expected an integer, got '1e5' (see --help)"),
    (["--size", "many"], "softmax-rosetta bench: error: argument --size: expected an integer, got 'many' (see --help)"),
    (["--workloads", ","], "softmax-rosetta: error: --workloads: empty list"),
    (["--workloads", "T,X"], "softmax-rosetta: error: --workloads: unknown workload 'X'; known: T, M, L"),
    (["--device", "tpu"], "softmax-rosetta: error: --device: unknown device 'tpu'; known: cpu, cuda"),
    (["--backends", "numpy,mxnet"], "softmax-rosetta: error: --backends: unknown backend 'mxnet'; known: "),
    (["--threads", "100000"], "softmax-rosetta: error: --threads: 100000 but this process may use "),
    (
        ["--workers", "1,2", "--device", "cuda"],
        "softmax-rosetta: error: --workers: data-parallel timing runs on the CPU",
    ),
    (["--workers", "1,2", "--variants", "fast"], "softmax-rosetta: error: --variants: not with --workers"),
    (["--workers", "1,100000"], "softmax-rosetta: error: --workers: 100000 workers x 1 thread(s) need 100000 CPUs"),
    (["--workers", "1,2", "--epochs", "1"], "softmax-rosetta: error: --epochs: timing inside a data-parallel loop"),
]


@pytest.mark.parametrize(("args", "message"), BENCH, ids=[" ".join(a) for a, _ in BENCH])
def test_bench_mistakes_are_one_line_before_any_work(capsys, args, message):
    try:
        status = main(["bench", "--no-progress", "--backends", "numpy", *args])
    except SystemExit as exc:  # argparse's own one line
        status = exc.code
    assert status == 2
    line = _one_line(capsys)
    assert line.startswith(message), line


def test_bench_size_names_the_estimate_and_what_is_available(capsys):
    available = workloads.available_memory()
    assert available is not None and available > 0
    rows = available // workloads.l_bytes(1)  # one copy fits, two don't
    assert main(["bench", "--no-progress", "--backends", "numpy", "--workloads", "L", "--size", str(rows)]) == 2
    line = _one_line(capsys)
    assert f"--size: {rows:,} rows of L need about " in line and " available" in line, line


def test_bench_command_line_mistakes_are_usage_errors():
    from softmax_rosetta.tools.bench import Options, run
    from softmax_rosetta.tools.options import UsageError

    for opts in (Options(workers=()), Options(device="tpu"), Options(workloads=("Q",)), Options(backends=("mxnet",))):
        with pytest.raises(UsageError):
            run(opts)


# --- signals to real runs -----------------------------------------------------------------------


def _handles(pid: int, sig: int) -> bool:
    """Whether the process has a handler for ``sig`` (its start-up is over: the command's own)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def _alive_in_group(pgid: int) -> list[str]:
    """The processes of the group that are still running (zombies are gone: only not reaped yet)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1:2] and not line.split()[1].startswith("Z")]


def as_from_a_terminal() -> None:
    """In the child, before exec: the signals as a shell's foreground command gets them (default
    dispositions, none blocked), whatever the pytest process left (an ignored or blocked signal is inherited)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def stop(args: list[str], sig: int, delay: float, *, group: bool = False, limit: float = 60.0):
    """Start the command line in a session of its own, wait until its handlers are in place, then
    ``delay`` seconds, send ``sig`` (to its process group: as Ctrl-C in a terminal does);
    (exit status, stderr lines, seconds to stop, processes of its group left)."""
    proc = subprocess.Popen(
        [str(EXE), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 60
        while not _handles(proc.pid, signal.SIGTERM) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, f"the run ended before the signal: {proc.stderr.read() if proc.stderr else ''}"
        (os.killpg if group else os.kill)(proc.pid, sig)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=limit)
        took = time.monotonic() - sent
        left: list[str] = []
        for _ in range(20):
            left = _alive_in_group(proc.pid)
            if not left:
                break
            time.sleep(0.1)
        return proc.returncode, err.strip().splitlines(), took, left
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


LONG = ["--epochs", "2000000", "--quiet"]  # --quiet: no "#" line, the signal's line alone
EXPECTED = {
    signal.SIGINT: (130, "softmax-rosetta: interrupted"),
    signal.SIGTERM: (143, "softmax-rosetta: terminated (SIGTERM)"),
}
SIGNALS = [
    # backend, extra arguments, signal, seconds after start-up, to the process group
    pytest.param("numpy", LONG, signal.SIGTERM, 0.3, False, id="numpy-TERM-0.3"),
    pytest.param("numpy", LONG, signal.SIGINT, 1.0, True, id="numpy-INT-group-1.0", marks=pytest.mark.slow),
    *[
        pytest.param("jax", LONG, sig, delay, False, id=f"jax-{sig.name}-{delay}", marks=pytest.mark.slow)
        for sig in (signal.SIGTERM, signal.SIGINT)
        for delay in (0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
    ],
    *[
        pytest.param("torch", LONG, signal.SIGTERM, delay, False, id=f"torch-TERM-{delay}", marks=pytest.mark.slow)
        for delay in (0.3, 1.0, 2.0)
    ],
    *[
        pytest.param(
            "torch",
            [*LONG, "--workers", "2"],
            sig,
            delay,
            group,
            id=f"torch-workers-{sig.name}-{delay}-{where}",
            marks=pytest.mark.slow,
        )
        for sig in (signal.SIGTERM, signal.SIGINT)
        for delay in (0.5, 1.5, 3.0, 6.0)
        for group, where in ((False, "pid"), (True, "group"))
    ],
]


@pytest.mark.parametrize(("backend", "extra", "sig", "delay", "group"), SIGNALS)
def test_a_signal_is_one_line_its_exit_status_and_nothing_left(backend, extra, sig, delay, group):
    require_backend(backend)
    status, lines, took, left = stop(["train", backend, *extra], sig, delay, group=group)
    assert (status, lines) == (EXPECTED[sig][0], [EXPECTED[sig][1]]), (status, lines)
    assert took < 30, f"{took:.1f} s to stop"
    assert not left, left


def _wrapped_by_an_extension(sig, cause):
    """What jaxlib does to an exception a Python callback of its C++ raised (a dataclass's __eq__ in its
    jit cache, say): raised again as an error of its own, the original as its cause or its context."""
    try:
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises here, between two bytecodes
    except BaseException as exc:
        if cause:
            raise RuntimeError("an extension's own error") from exc
        raise RuntimeError("an extension's own error")  # noqa: B904  # the context alone, as C code leaves it
    raise AssertionError("the signal never came")


@pytest.mark.parametrize("cause", [True, False])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_wrapped_on_its_way_by_an_extension_is_still_the_signal(sig, cause):
    """Seen once in CI: SIGTERM landed in a dataclass's __eq__ that JAX's C++ called, and the command
    printed jaxlib's error with a traceback, exit 1. The block now ends as the signal it was."""
    from softmax_rosetta.tools.process import Interrupted, Terminated, guarded

    expected = Terminated if sig == signal.SIGTERM else Interrupted
    with pytest.raises(expected) as found:
        with guarded():
            _wrapped_by_an_extension(sig, cause)
    assert found.value.__cause__ is None and found.value.__suppress_context__


def test_the_command_prints_a_wrapped_signal_as_one_line(monkeypatch, capsys):
    import argparse

    from softmax_rosetta.tools import cli

    def run(args):
        _wrapped_by_an_extension(signal.SIGTERM, cause=True)

    monkeypatch.setattr(cli._Parser, "parse_args", lambda self, argv=None: argparse.Namespace(run=run, debug=False))
    assert main(["train", "numpy"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "softmax-rosetta: terminated (SIGTERM)\n"
