"""Atomic file writes: a reader (or a resumed run) never sees a half-written file. Files opened in place
(a lock, an appended log) and files copied out of a run are opened without following symbolic links:
a link planted in a run directory can neither redirect a write nor smuggle another file out."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual permissions
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


TEMP_SUFFIX = ".tmp"


class UnsafeFileError(ValueError):
    """A path that pixelvit would open in a run or model directory is a symbolic link or not a regular file."""


def open_no_follow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """``os.open(path, flags | O_NOFOLLOW)``: a file descriptor of the regular file at ``path`` itself.

    A symbolic link (or a FIFO, device, directory) at ``path``, and for writing a file with other hard
    links, is an :class:`UnsafeFileError` naming it, so nothing outside the directory is read, written or
    truncated through it.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeFileError(
                f"{path} is a symbolic link: pixelvit does not open links inside a run or model directory "
                "(one could point at any of your files); remove it and run again"
            ) from None
        if e.errno == errno.EISDIR:
            raise UnsafeFileError(f"{path} is a directory, not a file: remove or rename it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFileError(f"{path} is not a regular file (a FIFO, socket or device): remove or rename it")
    if flags & (os.O_WRONLY | os.O_RDWR) and info.st_nlink > 1:
        os.close(fd)
        raise UnsafeFileError(
            f"{path} has {info.st_nlink - 1} other hard link(s): writing it would change another file too; remove it, run again"
        )
    os.set_blocking(fd, True)
    return fd


def refuse_link(path: str | os.PathLike) -> None:
    """An :class:`UnsafeFileError` when ``path`` is a symbolic link (a missing path is fine)."""
    if Path(path).is_symlink():
        raise UnsafeFileError(
            f"{path} is a symbolic link: pixelvit does not follow links inside a run or model directory "
            "(one could point at any of your files); remove it and run again"
        )


def read_regular_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of the regular file at ``path``, refusing a symbolic link (see :func:`open_no_follow`)."""
    with os.fdopen(open_no_follow(path, os.O_RDONLY), "rb") as f:
        return f.read()


def copy_regular_file(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy the regular file ``src`` (never a link's target) to ``dst`` atomically."""
    data = read_regular_bytes(src)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``directory`` when a process was killed
    mid-write (``.<name>.<random>.tmp``); returns what was removed. Call only while no other process
    writes there (a run holds its directory's lock)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
