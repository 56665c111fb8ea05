"""The undo log: every change write_file / edit_file made, newest last, so `/undo` can take it back."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from glmchat.tools.workspace import ToolError


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class UndoEntry:
    """One change: the file, what it held before (None = it did not exist), and what was written."""

    path: Path
    previous: bytes | None
    written_digest: str
    tool: str = "write_file"
    created_dirs: tuple[Path, ...] = ()
    when: float = field(default_factory=time.time)


class UndoLog:
    """Thread-safe stack of file changes. `undo()` restores the newest one and says what it did."""

    def __init__(self) -> None:
        self._entries: list[UndoEntry] = []
        self._lock = threading.Lock()

    def record(
        self,
        path: Path,
        previous: bytes | None,
        written: bytes,
        tool: str = "write_file",
        created_dirs: tuple[Path, ...] = (),
    ) -> None:
        """Remember that `path` held `previous` (None: did not exist) before `written` was put there."""
        entry = UndoEntry(Path(path), previous, _digest(written), tool, tuple(created_dirs))
        with self._lock:
            self._entries.append(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def entries(self) -> list[UndoEntry]:
        with self._lock:
            return list(self._entries)

    def undo(self, force: bool = False) -> str:
        """Restore the newest change; returns one line saying what was done (or that there is nothing).

        Refuses (ToolError) when the file was changed again since, unless `force` is true.
        """
        with self._lock:
            if not self._entries:
                return "Nothing to undo: no file was written or edited in this session."
            entry = self._entries[-1]
            current = _read_or_none(entry.path)
            if not force and (current is None or _digest(current) != entry.written_digest):
                what = "was deleted" if current is None else "was changed again"
                raise ToolError(
                    f"Cannot undo the {entry.tool} of {entry.path}: the file {what} after it.",
                    "Undoing now would lose those changes; restore it by hand (or undo with force).",
                )
            try:
                if entry.previous is None:
                    if current is not None:
                        entry.path.unlink()
                    for d in reversed(entry.created_dirs):
                        try:
                            d.rmdir()
                        except OSError:
                            break  # not empty any more: keep it and its parents
                    message = f"Undid {entry.tool}: removed {entry.path} (the file did not exist before)."
                else:
                    entry.path.parent.mkdir(parents=True, exist_ok=True)
                    entry.path.write_bytes(entry.previous)
                    message = f"Undid {entry.tool}: restored {entry.path} to its previous content."
            except OSError as exc:
                raise ToolError(
                    f"Cannot undo the change to {entry.path}: {exc.strerror or exc}.",
                    "Check the file's permissions.",
                ) from None
            self._entries.pop()
            left = len(self._entries)
        return message + (f" {left} earlier change(s) can still be undone." if left else "")


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return None
