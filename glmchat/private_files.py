"""Files and folders glmchat creates are private to the user: folders 0700, files 0600, whatever the umask.

The conversation database (and SQLite's -wal/-shm beside it, which copy its mode), llama.log, KV
snapshots and exports hold what people typed and what their files said, so nobody else on the machine
may read them. Folders that already exist keep their mode (the user chose it, or it is shared, like
~/.cache); folders glmchat has to create are made 0700. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """`path` as a folder, creating it and any missing parents as 0700 (umask-independent).

    Raises OSError like `Path.mkdir(parents=True, exist_ok=True)` (FileExistsError for a file there).
    """
    path = Path(path)
    if path.is_dir():
        return path
    if path.parent != path:
        private_dir(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return path  # made meanwhile by another process: theirs, left as it is
    os.chmod(path, DIR_MODE)  # the umask may have taken the owner's bits
    return path


def make_private(path: str | os.PathLike[str]) -> None:
    """Take group and other access off an existing file of ours (0600); never an error."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except OSError:  # missing, or someone else's: nothing to do
        pass


def open_private(path: str | os.PathLike[str], flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """os.open(path, flags) with a new file made 0600 and an existing one narrowed to 0600."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:  # not ours (or a file system without modes): it keeps its mode
        pass
    return fd


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` whole with `data`: a 0600 temporary file beside it, then a rename.

    Raises OSError (and leaves no temporary file behind) when it cannot be written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
