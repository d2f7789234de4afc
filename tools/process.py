"""The command line as a Unix process: what a signal, or a stdout that can't be written, does to a run.

    try:
        with guarded():
            ...                      # the command
    except Terminated as exc: ...    # exit status exc.exit_status (143 for SIGTERM)
    except StdoutError as exc: ...   # exc.broken_pipe: the reader went away (exit 141, silently)

While the block runs, SIGTERM and SIGHUP raise ``Terminated`` in the main thread: a
``BaseException``, like the ``KeyboardInterrupt`` of Ctrl-C, so a run unwinds the same way
(``worker.run`` kills its child's process group, temporary folders and files are removed, the
``--out`` lock is released). A second signal of the kind kills at once. Writes to ``sys.stdout``
that fail (``| head -1`` closed the pipe, ``> /dev/full``) raise ``StdoutError``; stdout is flushed
at the end of the block, so buffered output fails there and not in the interpreter's exit.

An unbuffered stdout (``PYTHONUNBUFFERED``, ``python -u``) is written through a buffer of its own
in the block, flushed at each newline: Python's text layer makes one ``write`` call to an
unbuffered file and drops what a short write leaves (the reader went away mid-write, a signal
interrupted a write to a full pipe, a disk filled up), so a large output ended in exit 0 with its
tail lost; a buffer writes it all or fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a process the signal stopped."""
        return 128 + self.signum


class StdoutError(Exception):
    """Writing to stdout failed."""

    def __init__(self, error: OSError):
        super().__init__(error.strerror or str(error))
        self.error = error

    @property
    def broken_pipe(self) -> bool:
        """The reader closed the pipe (``| head``): not an error, the output is not wanted any more."""
        return isinstance(self.error, BrokenPipeError)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """SIGTERM and SIGHUP as ``Terminated``, and stdout's failures as ``StdoutError``, in the block."""
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        previous = {sig: signal.signal(sig, _terminate) for sig in SIGNALS}
    stdout = sys.stdout
    if stdout is not None:
        sys.stdout = _CheckedStream(_buffered(stdout))
    try:
        yield
        if stdout is not None:
            sys.stdout.flush()
    finally:
        sys.stdout = stdout
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that the interpreter's last flush of what
    is still buffered can't fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: nothing will be flushed to one
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _buffered(stream: Any) -> Any:
    """``stream``, or where it writes to an unbuffered file, a line-buffered text stream on a buffer of
    its own over the same file descriptor (never closing it), in the same encoding."""
    if not isinstance(getattr(stream, "buffer", None), io.RawIOBase) or os.linesep != "\n":
        return stream
    try:
        raw = io.FileIO(stream.fileno(), "w", closefd=False)
    except (OSError, ValueError):
        return stream
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=stream.encoding, errors=stream.errors, line_buffering=True)


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal stops the process at once
    raise Terminated(signum)


class _CheckedStream:
    """A text stream whose ``OSError``s on write and flush are raised as ``StdoutError``."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise StdoutError(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutError(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

