"""Writing a file so that a reader never sees half of one, and a user's file keeps what it had.

``atomic_write(path, data)`` writes to a temporary file beside the file, then renames it over the
path (``os.replace``: atomic within a file system), so an interrupted run leaves the old file or
none, never a truncated one. Replacing a file that exists keeps what a user set on it, as an
editor does:

- a symbolic link stays a link: the file it points to (through a chain of links, to the end) is
  the one replaced, its temporary file made in that file's folder;
- its permission bits (600 stays 600, 755 stays 755), and its owner and group where this process
  may set them (a user can give a file only to a group of their own);

a new file gets 666 less the umask, as ``open`` would make it. What a rename can't keep: other
hard links to the old file keep the old contents, and extended attributes and ACLs are not copied.

The library's model files (``models.save_model``) and every file the tools write go through it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = ["atomic_write", "final_target", "probe_folder"]

_MAX_LINKS = 40  # Linux's limit on links followed in one path


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8 with the newlines it has) to ``path``, atomically; see the module."""
    target = final_target(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    folder, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _keep_owner_and_mode(f.fileno(), old)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def probe_folder(folder: str | os.PathLike) -> None:
    """Make and remove a file in ``folder``: the one sure test that it can be written (``os.access``
    says yes to root on a read-only folder); ``OSError`` when it can't."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".softmax-rosetta-probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(probe)


def final_target(path: str | os.PathLike) -> str:
    """``path``, or where it leads when it is a symbolic link (followed to the end of a chain).

    The folders on the way are kept as given; only the links at the end are followed, each read
    relative to the folder that holds it. A link that leads nowhere gives the path it names.
    """
    target = os.fspath(path)
    for _ in range(_MAX_LINKS):
        if not os.path.islink(target):
            return target
        target = os.path.join(os.path.dirname(target), os.readlink(target))
    return os.fspath(path)  # a loop: the write fails on it, as open() would (ELOOP)


def _keep_owner_and_mode(fd: int, old: os.stat_result | None) -> None:
    """Give the new file the old one's owner, group and permission bits (a new one: 666 less the umask)."""
    if old is None:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a new file is for everyone, as open() makes it
        return
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (old.st_uid, old.st_gid):
        for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):  # the group alone, where the owner can't be
            try:
                os.fchown(fd, uid, gid)
                break
            except PermissionError:
                continue
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which clears set-id bits


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
