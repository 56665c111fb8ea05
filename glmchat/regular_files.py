"""Opening regular files only, without ever blocking: the primitive under the tools' file access and --model.

Opening a FIFO for reading blocks until a writer comes, a device may block (or do something on
open), a socket cannot be opened at all. So `open_regular()` looks first (`stat`, no open), opens
with `O_NONBLOCK` (cleared again once open), checks the open file with `fstat`, and refuses
anything but a regular file with `NotRegularFileError`, an `OSError` naming what the file is.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, as words: "a regular file", "a FIFO (named pipe)", …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a special file"


class NotRegularFileError(OSError):
    """The path names a FIFO, a device, a socket (or, opened without following, a symlink): not opened."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        self.kind = file_kind(mode)
        super().__init__(errno.EINVAL, f"{self.kind}, not a regular file", os.fspath(path))
        self.mode = mode


def _refuse(path: str | os.PathLike[str], st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(path, st.st_mode)


def open_regular(
    path: str | os.PathLike[str], flags: int = os.O_RDONLY, *, dir_fd: int | None = None, follow: bool = True
) -> tuple[int, os.stat_result]:
    """(fd, fstat) of the regular file `path` (relative to `dir_fd` when given), opened with `flags`.

    Raises IsADirectoryError, NotRegularFileError (FIFO, device, socket; with `follow=False` also a
    symlink), or the OSError of the open (FileNotFoundError, PermissionError, …). Never blocks.
    """
    before = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow)
    _refuse(path, before)
    nofollow = 0 if follow else os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | nofollow, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP, errno.ELOOP):  # swapped since the stat
            _refuse(path, os.stat(path, dir_fd=dir_fd, follow_symlinks=False))
        raise
    try:
        st = os.fstat(fd)
        _refuse(path, st)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_fd(fd: int, limit: int | None = None) -> bytes:
    """Everything `fd` holds from its position (at most `limit` + 1 bytes, so callers can tell "more")."""
    chunks: list[bytes] = []
    total = 0
    while limit is None or total <= limit:
        want = 1 << 20 if limit is None else min(1 << 20, limit + 1 - total)
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
