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

No signal is lost. A handler raises its exception wherever the main thread is, and Python
drops an exception raised in a gc callback, a ``__del__`` or a weakref callback ("Exception
ignored in ...": JAX's ``_xla_gc_callback`` runs at every collection), and C code that clears
errors (``PyObject_HasAttr`` reaching a module's ``__getattr__``) drops it silently. So each
exception a signal raises (``Terminated``, or ``Interrupted`` for Ctrl-C: a ``KeyboardInterrupt``)
is followed by a weak reference: freed before it reached the end of the block, it was swallowed,
and it is raised again a moment later (``SIGALRM`` from ``setitimer``, out of the code that
dropped it), as often as it takes; one swallowed and kept alive is raised at the block's end at
the latest. Swallowed ones are not printed ("Exception ignored" is for other exceptions). A
signal that comes while an extension module is being made is raised when it is made: an exception
in the middle can leave it half made, and the interpreter crashes (jaxlib's does, with SIGSEGV).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
AGAIN_AFTER = 0.02  # seconds from a swallowed signal's exception to raising it again


class Terminated(BaseException):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a process the signal stopped."""
        return 128 + self.signum


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) in a ``guarded`` block: the ``KeyboardInterrupt`` Python would raise."""


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
    """SIGTERM and SIGHUP as ``Terminated``, and stdout's failures as ``StdoutError``, in the block;
    Ctrl-C as ``Interrupted`` (where Python's own handler has it), none of them ever lost."""
    previous: dict[int, Any] = {}
    hook = sys.unraisablehook
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        previous = {sig: signal.signal(sig, _terminate) for sig in SIGNALS}
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where it is ignored (``&``)
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupt)
        previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, _watch.again)
        _watch.hook, sys.unraisablehook = hook, _unraisable
    stdout = sys.stdout
    if stdout is not None:
        sys.stdout = _CheckedStream(_buffered(stdout))
    try:
        try:
            yield
        except BaseException as exc:
            found = _watch.arrived(exc)
            if found is not None and found is not exc:
                # the signal's exception, wrapped on its way out by an extension (jaxlib re-raises what a
                # Python callback of its C++, such as a dataclass's __eq__, raised as its own error): the
                # signal, still, and one line
                raise found from None
            raise
        _watch.raise_swallowed()  # the block ended: a signal's exception dropped on the way is raised here
        if stdout is not None:
            sys.stdout.flush()
    finally:
        _watch.close()
        sys.stdout = stdout
        sys.unraisablehook, _watch.hook = hook, None
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
    _watch.raise_for(signum, frame)


def _interrupt(signum: int, frame: Any) -> None:
    _watch.raise_for(signum, frame)


def _importing(frame: Any) -> bool:
    """Whether ``frame`` runs inside the making of an extension module (its ``create_module`` or
    ``exec_module``): an exception raised there can leave the module half made, and the
    interpreter crashes (jaxlib's does, with SIGSEGV)."""
    from importlib.machinery import ExtensionFileLoader

    while frame is not None:
        if frame.f_code.co_name in ("create_module", "exec_module"):
            if isinstance(frame.f_locals.get("self"), ExtensionFileLoader):
                return True
        frame = frame.f_back
    return False


def _unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: a signal's exception dropped by Python is not printed (it is raised
    again, ``_Watch``); anything else goes to the hook that was there."""
    if isinstance(unraisable.exc_value, (Terminated, Interrupted)):
        return
    (_watch.hook or sys.__unraisablehook__)(unraisable)


class _Watch:
    """The exception the last signal raised, followed until it reaches ``guarded``'s end.

    Freed before then (its weak reference's callback), it was swallowed: ``again`` (SIGALRM's
    handler) raises a new one ``AGAIN_AFTER`` seconds later, once the code that dropped it is done.
    Everything here runs in the main thread, between two bytecodes of whatever it was running:
    no locks, only assignments and ``setitimer``.
    """

    def __init__(self) -> None:
        self.ref: weakref.ref[BaseException] | None = None
        self.signum: int | None = None  # the signal of the exception followed
        self.swallowed: int | None = None  # a signal whose exception was dropped: to raise again
        self.hook: Any = None

    def follow(self, signum: int) -> BaseException:
        """A new exception for ``signum``, followed (no local keeps it: a cycle would keep it alive)."""
        self.signum, self.swallowed = signum, None
        exc = _exception(signum)
        self.ref = weakref.ref(exc, self._freed)
        return exc

    def raise_for(self, signum: int, frame: Any) -> None:
        """In a signal's handler: raise its exception, or, inside an import, a moment later."""
        if _importing(frame):
            self.ref, self.signum, self.swallowed = None, signum, signum
            signal.setitimer(signal.ITIMER_REAL, AGAIN_AFTER)
            return
        raise self.follow(signum)

    def _freed(self, ref: weakref.ref[BaseException]) -> None:
        if ref is self.ref:  # not arrived, and gone: dropped on the way
            self.ref, self.swallowed = None, self.signum
            signal.setitimer(signal.ITIMER_REAL, AGAIN_AFTER)

    def again(self, signum: int, frame: Any) -> None:
        """SIGALRM's handler: the signal whose exception was dropped (or put off), raised again."""
        if self.swallowed is not None:
            self.raise_for(self.swallowed, frame)

    def arrived(self, exc: BaseException | None) -> BaseException | None:
        """The block is left by ``exc``: the exception followed is it, or in its chain (its cause or its
        context, at any depth): it arrived, and is returned; else None."""
        todo, seen = [exc], 0
        while todo and seen < 100:
            e = todo.pop()
            if e is None:
                continue
            if self.ref is not None and self.ref() is e:
                self.ref = None
                return e
            todo += [e.__context__, e.__cause__]
            seen += 1
        return None

    def raise_swallowed(self) -> None:
        """At the block's end, a signal whose exception didn't arrive: raised now."""
        if self.swallowed is not None or (self.ref is not None and self.ref() is not None):
            signum = self.swallowed if self.swallowed is not None else self.signum
            assert signum is not None
            self.close()
            raise _exception(signum)

    def close(self) -> None:
        if self.ref is not None or self.swallowed is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.ref = self.signum = self.swallowed = None


def _exception(signum: int) -> BaseException:
    return Interrupted() if signum == signal.SIGINT else Terminated(signum)


_watch = _Watch()


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
