"""Writing files so that a reader never sees half of one: every file the project writes goes
through ``atomic_write`` (``softmax_rosetta.atomic``: a replaced file keeps its mode and owner, and
a symbolic link is written through); ``writable_folder`` and ``writable_file`` check an output
path before a run starts (``PathError``: one line naming the option and the path)."""

from __future__ import annotations

import os

from softmax_rosetta.atomic import atomic_write, final_target, probe_folder

__all__ = ["PathError", "atomic_write", "writable_file", "writable_folder"]


class PathError(ValueError):
    """An output path that can't be written: one line naming the option and the path."""


def writable_folder(path: str | os.PathLike, option: str) -> str:
    """Make sure ``path`` is a folder this process can write into, creating it if missing; its path.

    Checked before any work is done, so that a run never ends in a traceback at its last step:
    an empty path, a dangling symbolic link, a file on the way, a folder that can't be written
    (read-only, another user's) each raise ``PathError`` naming ``option``.
    """
    text = os.fspath(path)
    if not text:
        raise PathError(f"{option}: empty path")
    if os.path.islink(text) and not os.path.exists(text):
        raise PathError(f"{option}: {text!r} is a symbolic link to {os.readlink(text)!r}, which does not exist")
    if os.path.exists(text) and not os.path.isdir(text):
        raise PathError(f"{option}: {text!r} exists and is not a folder")
    try:
        os.makedirs(text, exist_ok=True)
    except OSError as exc:
        blocker = _file_on_the_way(text)
        why = f"{blocker!r} is a file, not a folder" if blocker else exc.strerror
        raise PathError(f"{option}: can't create the folder {text!r}: {why}") from None
    _probe(text, option)
    return text


def writable_file(path: str | os.PathLike, option: str, *, append: bool = False) -> str:
    """Make sure a file can be written at ``path`` (``append``: appended to in place); its path.

    Its folder must exist (it is not created); nothing is written but, with ``append``, an empty
    file where there was none. A symbolic link is checked where it leads (``atomic_write`` writes
    through it); one that leads nowhere is refused, as ``cp`` refuses to write through it.
    """
    text = os.fspath(path)
    if not text:
        raise PathError(f"{option}: empty path")
    if os.path.isdir(text):
        raise PathError(f"{option}: {text!r} is a folder, not a file")
    if os.path.islink(text) and not os.path.exists(text):
        raise PathError(f"{option}: {text!r} is a symbolic link to {os.readlink(text)!r}, which does not exist")
    folder = os.path.dirname(final_target(text)) or "."
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise PathError(f"{option}: can't write {text!r}: the folder {folder!r} {what}")
    if append:
        try:
            open(text, "a").close()
        except OSError as exc:
            raise PathError(f"{option}: can't append to {text!r}: {exc.strerror}") from None
    else:
        _probe(folder, option)
    return text


def _probe(folder: str, option: str) -> None:
    """Create and remove a file in ``folder``: the one sure test that it can be written."""
    try:
        probe_folder(folder)
    except OSError as exc:
        raise PathError(f"{option}: can't write into the folder {folder!r}: {exc.strerror}") from None


def _file_on_the_way(path: str) -> str | None:
    """The nearest existing ancestor of ``path``, when it is not a folder."""
    parent = os.path.dirname(path)
    while parent and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    return parent if parent and os.path.lexists(parent) and not os.path.isdir(parent) else None
