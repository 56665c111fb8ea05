"""llama.cpp's own log → a file (settings.log_path()), never onto the terminal.

llama.cpp (and ggml) print model-loading chatter through one global callback. `install()` replaces
it with a ctypes callback that appends every line to the log file, and also to stderr when
`verbose=True`. Call it after `import llama_cpp` (which sets its own stderr callback on import) and
before a model is loaded. The callback object is kept at module level: if ctypes freed it, llama.cpp
would call into freed memory.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

_lock = threading.Lock()
_file: TextIO | None = None
_path: Path | None = None
_verbose = False
_callback: Any = None  # the live ctypes function pointer; must outlive every llama.cpp call


def _write(level: int, text: bytes | None, user_data: Any) -> None:
    """Called by llama.cpp from any thread; must never raise."""
    if not text:
        return
    try:
        s = text.decode("utf-8", errors="replace")
        with _lock:
            if _file is not None:
                _file.write(s)
                if s.endswith("\n"):
                    _file.flush()
            if _verbose:
                sys.stderr.write(s)
                sys.stderr.flush()
    except Exception:  # noqa: BLE001 - an exception cannot cross back into C
        pass


def install(path: str | Path | None = None, *, verbose: bool = False) -> Path:
    """Route llama.cpp's log to `path` (default: settings.log_path()); returns the log file path.

    Safe to call again: switches file and verbosity, keeping one callback.
    """
    global _file, _path, _verbose, _callback
    import llama_cpp

    if path is None:
        from glmchat.settings import log_path

        path = log_path()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        if _path != path or _file is None:
            if _file is not None:
                _file.close()
            _file = open(path, "a", encoding="utf-8")
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
    with _lock:
        if _file is not None:
            _file.flush()


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
