"""One way to run work in a process of its own, for the agreement report and the benchmark.

The frameworks' thread pools fight when torch, JAX and NumPy share a process, and a benchmark
wants its threads and CPUs fixed before any pool starts; so each backend runs in a fresh
Python process:

    outcome = run("softmax_rosetta.tools.bench.floor:measure", {"device": "cpu", ...},
                  env=env, cpus=[0, 1], timeout=600, on_progress=print)

The child (this module, run as ``python -P -m``) pins itself to ``cpus`` before anything else is
imported (thread pools started at import inherit the affinity), imports ``module:function``,
calls it with the keyword arguments, and writes ``{"ok": true, "result": ...}`` (JSON) or
``{"ok": false, "error": ..., "usage": ...}`` to a result file, atomically. ``progress(label)``
in the child sends one line to ``on_progress`` in the parent. Everything else the child prints
(on stdout or stderr) is kept as the log.

What the child sends back never travels on its stdout: the result goes through the file, the
progress lines through a pipe of their own, which only the child holds. Processes it launches
(torch's ranks, a compiler's workers) inherit its stdout and may write to it at any moment, so
a line there can be cut or joined with another (a 64 KiB JSON line was, under load, by a
launched process writing into the same pipe mid-line); the progress pipe is closed in them
(Python starts children with ``close_fds``), and each progress line is one ``os.write`` of less
than ``PIPE_BUF`` bytes, which the kernel never splits.

The child runs in safe-path mode (``-P``): the current folder is not on its ``sys.path``, so a
``numpy.py`` or a ``softmax_rosetta/`` folder where the user stands can't take the place of the
package or its dependencies (multiprocessing passes ``-P`` on to the processes it spawns).

``on_progress`` is called in the calling thread, never in a thread of this module's: what it
raises (a closed stdout's error, Ctrl-C) stops the run like any exception in ``run``.

The parent never raises for the child's failures: an exception, a crash, a timeout and a
missing result each come back as an ``Outcome`` with ``ok`` False and one line in ``error``.
A child that runs past ``timeout`` is killed with everything it started.

No child outlives the run: when ``run`` is left by an exception (KeyboardInterrupt, or the
command line's SIGTERM handler) it kills the child's process group and removes its temporary
folder before the exception goes on; on Linux a child is also killed by the kernel when its
parent dies, however it dies (SIGKILL included; what the child started itself then is left to
its own watchdogs: torch's compile workers have one).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: most bytes of one progress line: the kernel writes a pipe's write of at most PIPE_BUF (4096 on
#: Linux, 512 at least by POSIX) bytes in one piece
MAX_PROGRESS_BYTES = 512

# The child's first lines, before any import that could start a thread pool. On Linux the child
# first asks the kernel to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG = 1), and
# exits at once if the parent is already gone.
_LAUNCH = (
    "import os, runpy, sys; "
    "sys.platform == 'linux' and __import__('ctypes').CDLL(None).prctl(1, 9); "
    "os.getppid() != {parent} and os._exit(1); "
    "cpus = {cpus!r}; cpus and os.sched_setaffinity(0, cpus); "
    "sys.argv[1:] = {argv!r}; runpy.run_module('softmax_rosetta.tools.worker', run_name='__main__')"
)

#: in a child: the file descriptor of its progress pipe (None elsewhere: ``progress`` does nothing)
_progress_fd: int | None = None


@dataclass
class Outcome:
    """What one child process gave back."""

    ok: bool
    result: Any = None  # the function's return value, read back from JSON
    error: str = ""  # one line: the exception, the exit status, or the timeout
    usage: bool = False  # the error is a user's mistake (BackendError, SpecError), not a crash
    seconds: float = 0.0  # wall time of the whole process
    log: str = ""  # what the child printed


def progress(label: str) -> None:
    """In the child: tell the parent's ``on_progress`` that ``label`` is done (one line, its first
    ``MAX_PROGRESS_BYTES`` bytes). Outside a child of ``run`` it does nothing."""
    if _progress_fd is None:
        return
    line = label.replace("\n", " ").encode("utf-8", "replace")[: MAX_PROGRESS_BYTES - 1] + b"\n"
    os.write(_progress_fd, line)


def run(
    function: str,
    kwargs: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    cpus: Sequence[int] | None = None,
    timeout: float | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Call ``module:function(**kwargs)`` in a fresh Python process; its return value must be JSON."""
    with tempfile.TemporaryDirectory(prefix="softmax-rosetta-") as tmp:
        job_path, result_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        with open(job_path, "w", encoding="utf-8") as f:
            json.dump({"function": function, "kwargs": kwargs}, f)
        progress_read, progress_write = os.pipe()
        argv = [job_path, result_path, str(progress_write)]
        launch = _LAUNCH.format(parent=os.getpid(), cpus=list(cpus or []), argv=argv)
        start = time.perf_counter()
        log: list[str] = []
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-c", launch],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                pass_fds=(progress_write,),
                start_new_session=True,
            )  # its own process group: a kill reaches its children
        finally:
            os.close(progress_write)  # the child's copy is the only writer: its end is our EOF
        readers = [
            threading.Thread(target=_collect, args=(proc.stdout, log.append), daemon=True),
            threading.Thread(target=_collect, args=(_lines_of(progress_read), lines.put), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            returncode = _wait(proc, readers[1], lines, on_progress, None if timeout is None else start + timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            for reader in readers:
                reader.join(5)
            return Outcome(
                False,
                error=f"did not finish within {timeout:g} s",
                seconds=time.perf_counter() - start,
                log="".join(log),
            )
        except BaseException:  # KeyboardInterrupt, a closed stdout in on_progress: leave no orphan behind
            _kill(proc)
            raise
        seconds = time.perf_counter() - start
        _kill_group(proc)  # whatever the child left running (a compiler's worker pool) goes with it
        for reader in readers:
            reader.join()
        _deliver(lines, on_progress)
        try:
            with open(result_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    text = "".join(log)
    if data is None or (returncode != 0 and data.get("ok")):
        last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
        error = f"its process exited with status {returncode}: {last[0]}"
        return Outcome(False, error=error, seconds=seconds, log=text)
    if not data["ok"]:
        return Outcome(False, error=data["error"], usage=data.get("usage", False), seconds=seconds, log=text)
    return Outcome(True, result=data["result"], seconds=seconds, log=text)


def _wait(
    proc: subprocess.Popen[str],
    progress_reader: threading.Thread,
    lines: queue.SimpleQueue[str],
    on_progress: Callable[[str], None] | None,
    deadline: float | None,
) -> int:
    """Wait for the child to exit, calling ``on_progress`` here for each progress line as it comes;
    its exit status. ``subprocess.TimeoutExpired`` past ``deadline``."""
    while True:
        returncode = proc.poll()
        if returncode is not None:
            progress_reader.join(1.0)  # the child's last lines, unless a process it left holds the pipe
            return returncode
        if deadline is not None and time.perf_counter() > deadline:
            raise subprocess.TimeoutExpired(proc.args, 0)
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            continue
        if on_progress is not None:
            on_progress(line)


def _deliver(lines: queue.SimpleQueue[str], on_progress: Callable[[str], None] | None) -> None:
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return
        if on_progress is not None:
            on_progress(line)


def _collect(stream: Any, put: Callable[[str], None]) -> None:
    """In a reader thread: every line of ``stream`` to ``put``."""
    for line in stream:
        put(line)


def _lines_of(fd: int) -> Any:
    """The progress pipe's lines, without their newlines."""
    with open(fd, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            yield line.rstrip("\n")


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _child(job_path: str, result_path: str, progress_fd: str) -> int:
    import importlib
    import traceback

    from softmax_rosetta import BackendError, SpecError
    from softmax_rosetta.tools import worker  # the module the job imports (this one runs as __main__)

    from .files import atomic_write

    worker._progress_fd = int(progress_fd)
    os.set_inheritable(worker._progress_fd, False)  # the processes this one starts never write into it
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    module, _, name = job["function"].partition(":")
    try:
        result = getattr(importlib.import_module(module), name)(**job["kwargs"])
        data: dict[str, Any] = {"ok": True, "result": result}
    except Exception as exc:  # the parent reports it; the traceback goes to the log
        traceback.print_exc()
        data = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "usage": isinstance(exc, (BackendError, SpecError)),
        }
    atomic_write(result_path, json.dumps(data))
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
