"""One way to run work in a process of its own, for the agreement report and the benchmark.

The frameworks' thread pools fight when torch, JAX and NumPy share a process, and a benchmark
wants its threads and CPUs fixed before any pool starts; so each backend runs in a fresh
Python process:

    outcome = run("softmax_rosetta.tools.bench.floor:measure", {"device": "cpu", ...},
                  env=env, cpus=[0, 1], timeout=600, on_progress=print)

The child (this module, run as ``python -m``) pins itself to ``cpus`` before anything else is
imported (thread pools started at import inherit the affinity), imports ``module:function``,
calls it with the keyword arguments, and writes ``{"ok": true, "result": ...}`` (JSON) or
``{"ok": false, "error": ..., "usage": ...}`` to a result file, atomically. A line it prints
as ``progress<TAB>label`` goes to ``on_progress``; everything else it prints is kept as the log.

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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PROGRESS = "progress\t"

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


@dataclass
class Outcome:
    """What one child process gave back."""

    ok: bool
    result: Any = None  # the function's return value, read back from JSON
    error: str = ""  # one line: the exception, the exit status, or the timeout
    usage: bool = False  # the error is a user's mistake (BackendError, SpecError), not a crash
    seconds: float = 0.0  # wall time of the whole process
    log: str = ""  # what the child printed, progress lines left out


def progress(label: str) -> None:
    """In the child: tell the parent's progress display that ``label`` is done."""
    print(f"{PROGRESS}{label}", flush=True)


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
        launch = _LAUNCH.format(parent=os.getpid(), cpus=list(cpus or []), argv=[job_path, result_path])
        start = time.perf_counter()
        log: list[str] = []
        proc = subprocess.Popen(
            [sys.executable, "-c", launch],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )  # its own process group: a kill reaches its children
        reader = threading.Thread(target=_read, args=(proc.stdout, log, on_progress), daemon=True)
        reader.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            reader.join(5)
            return Outcome(
                False,
                error=f"did not finish within {timeout:g} s",
                seconds=time.perf_counter() - start,
                log="".join(log),
            )
        except BaseException:  # KeyboardInterrupt: leave no orphan behind
            _kill(proc)
            raise
        seconds = time.perf_counter() - start
        _kill_group(proc)  # whatever the child left running (a compiler's worker pool) goes with it
        reader.join()
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


def _read(stream: Any, log: list[str], on_progress: Callable[[str], None] | None) -> None:
    for line in stream:
        if line.startswith(PROGRESS):
            if on_progress is not None:
                on_progress(line[len(PROGRESS) :].rstrip("\n"))
        else:
            log.append(line)


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


def _child(job_path: str, result_path: str) -> int:
    import importlib
    import traceback

    from softmax_rosetta import BackendError, SpecError

    from .files import atomic_write

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
    sys.exit(_child(*sys.argv[1:3]))
