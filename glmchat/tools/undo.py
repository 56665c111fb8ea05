"""The undo log: every change write_file / edit_file made, newest last, so `/undo` can take it back.

Undo reads, restores and removes through `glmchat.tools.safe_files`, inside the workspace the change
was made in (by directory fd, regular files only, restoring by rename): a file swapped for a FIFO or
a folder swapped for a symlink since is refused, never waited on or written through.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glmchat.tools import safe_files
from glmchat.tools.workspace import ToolError, Workspace


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
    workspace: Workspace | None = None  # where the change was made (None: anywhere, from /)


class UndoLog:
    """Thread-safe stack of file changes. `undo()` restores the newest one and says what it did."""

    def __init__(self) -> None:
        self._entries: list[UndoEntry] = []
        self._lock = threading.Lock()
        # told of every change too (glmchat.rewind points it at the conversation's file history)
        self.on_record: Callable[[UndoEntry], None] | None = None

    def record(
        self,
        path: Path,
        previous: bytes | None,
        written: bytes,
        tool: str = "write_file",
        created_dirs: tuple[Path, ...] = (),
        *,
        workspace: Workspace | None = None,
    ) -> None:
        """Remember that `path` held `previous` (None: did not exist) before `written` was put there."""
        entry = UndoEntry(Path(path), previous, _digest(written), tool, tuple(created_dirs), workspace=workspace)
        with self._lock:
            self._entries.append(entry)
            observer = self.on_record
        if observer is not None:
            observer(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def entries(self) -> list[UndoEntry]:
        with self._lock:
            return list(self._entries)

    def discard(self, changes: set[tuple[str, str]]) -> int:
        """Forget the entries that wrote (path, digest) in `changes` (/rewind took them back); how many went."""
        with self._lock:
            kept = [e for e in self._entries if (str(e.path), e.written_digest) not in changes]
            gone = len(self._entries) - len(kept)
            self._entries = kept
        return gone

    def undo(self, force: bool = False) -> str:
        """Restore the newest change; returns one line saying what was done (or that there is nothing).

        Refuses (ToolError) when the file was changed again since, unless `force` is true.
        """
        with self._lock:
            if not self._entries:
                return "Nothing to undo: no file was written or edited in this session."
            entry = self._entries[-1]
            message = _undo_entry(entry, force)
            self._entries.pop()
            left = len(self._entries)
        return message + (f" {left} earlier change(s) can still be undone." if left else "")


def _undo_entry(entry: UndoEntry, force: bool) -> str:
    """Take one change back; ToolError when the file changed since (unless `force`) or cannot be restored."""
    ws = entry.workspace or Workspace("/")
    try:
        current = safe_files.read_bytes_or_none(ws, entry.path)
    except ToolError as exc:  # a folder, FIFO or device there now, or a path that leads out
        raise ToolError(f"Cannot undo the {entry.tool} of {entry.path}: {exc.message}", "Restore it by hand.") from None
    if not force and (current is None or _digest(current) != entry.written_digest):
        what = "was deleted" if current is None else "was changed again"
        raise ToolError(
            f"Cannot undo the {entry.tool} of {entry.path}: the file {what} after it.",
            "Undoing now would lose those changes; restore it by hand (or undo with force).",
        )
    try:
        if entry.previous is not None:
            safe_files.write_atomic(ws, entry.path, entry.previous)
            return f"Undid {entry.tool}: restored {entry.path} to its previous content."
        if current is not None:
            safe_files.remove_entry(ws, entry.path)
        for d in reversed(entry.created_dirs):
            try:
                safe_files.remove_entry(ws, d, directory=True)
            except (OSError, ToolError):
                break  # not empty any more: keep it and its parents
        return f"Undid {entry.tool}: removed {entry.path} (the file did not exist before)."
    except OSError as exc:
        raise ToolError(
            f"Cannot undo the change to {entry.path}: {exc.strerror or exc}.",
            "Check the file's permissions.",
        ) from None
