"""llama.cpp's own log → a file (settings.log_path()), never onto the terminal.

llama.cpp (and ggml) print model-loading chatter through one global callback. `install()` replaces
it with a ctypes callback that appends every line to the log file, and also to stderr when
`verbose=True`. Call it after `import llama_cpp` (which sets its own stderr callback on import) and
before a model is loaded. The callback object is kept at module level: if ctypes freed it, llama.cpp
would call into freed memory.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Any

from glmchat.private_files import open_private, private_dir

MAX_BYTES = 10 * 2**20  # llama.log is rotated to llama.log.1 (one old generation) beyond this


class RotatingLog:
    """An append-only text file, private (0600, its folder 0700 when created), that rotates by size.

    When a write would take it past `max_bytes` it is renamed to NAME.1 (replacing the older one)
    and a new file is started, so the log takes at most about twice `max_bytes` on disk.
    """

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        private_dir(self.path.parent)
        self._fd = -1
        self._size = 0
        self._reopen()
        if self._size >= self.max_bytes:
            self.rotate()

    def _reopen(self) -> None:
        self._fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
        os.write(self._fd, data)
        self._size += len(data)

    def rotate(self) -> None:
        """Move the file to NAME.1 and start an empty one (when the folder refuses: try again later)."""
        old = self._fd
        try:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._reopen()
        except OSError:
            self._fd, self._size = old, 0
            return
        os.close(old)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_lock = threading.Lock()
_file: RotatingLog | None = None
_path: Path | None = None
_verbose = False
_callback: Any = None  # the live ctypes function pointer; must outlive every llama.cpp call


def _write(level: int, text: bytes | None, user_data: Any) -> None:
    """Called by llama.cpp from any thread; must never raise."""
    if not text:
        return
    try:
        with _lock:
            if _file is not None:
                _file.write(text)  # unbuffered: the log tail is complete when an error names it
            if _verbose:
                sys.stderr.write(text.decode("utf-8", errors="replace"))
                sys.stderr.flush()
    except Exception:  # noqa: BLE001 - an exception cannot cross back into C
        pass


def install(path: str | Path | None = None, *, verbose: bool = False) -> Path:
    """Route llama.cpp's log to `path` (default: settings.log_path()); returns the log file path.

    Safe to call again: switches file and verbosity, keeping one callback. The file is private
    (0600) and rotates at MAX_BYTES (see RotatingLog).
    """
    global _file, _path, _verbose, _callback
    import llama_cpp

    if path is None:
        from glmchat.settings import log_path

        path = log_path()
    path = Path(path)
    with _lock:
        if _path != path or _file is None:
            if _file is not None:
                _file.close()
            _file = RotatingLog(path)
            _path = path
        _verbose = verbose
    if _callback is None:
        _callback = llama_cpp.llama_log_callback(_write)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    return path


def log_file() -> Path | None:
    """Where llama.cpp's log currently goes (None before `install`)."""
    return _path


def flush() -> None:
    """Nothing to do: every piece is written as it comes (kept for callers)."""


def tail(n: int = 20) -> list[str]:
    """The last `n` lines of the log file (for error messages); empty when there is none."""
    flush()
    if _path is None or not _path.exists():
        return []
    try:
        with open(_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return lines[-n:]
