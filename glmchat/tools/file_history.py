"""The file changes of one conversation, tagged with their turn, kept on disk so /rewind can undo them.

Every change write_file / edit_file makes (recorded in the undo log, tools/undo.py) is also written
here with the turn it happened in (the store id of that turn's user message): the file's content
before it (a snapshot, named by its SHA-256) and the digest of what the tool wrote. A conversation's
history lives in its own folder (0700; index.jsonl and snapshots/ 0600, through
glmchat.private_files), so it survives a restart. A previous content over `max_bytes` is not kept:
the change is noted as too big, said when it happens and again when a rewind cannot restore it.

`restore_since(turn)` puts every file changed in that turn or later back as it was before it, newest
first, through glmchat.tools.safe_files (inside the workspace, by directory fd; a symlink swapped in
is replaced, never written through): a file created since is removed, a changed one gets its old
content back, one deleted since comes back. A file whose content is no longer what the tool left
(changed by hand, or by a command) is skipped with a notice: restoring it would lose that work.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from glmchat.private_files import open_private, private_dir, write_private
from glmchat.tools import safe_files
from glmchat.tools.workspace import ToolError, Workspace
from glmchat.units import size_text

MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024  # a file bigger than this before a change is not snapshotted
INDEX = "index.jsonl"
FOLDER = "file-history"  # beside the conversations database, one folder per conversation id


def conversation_folder(database: str | os.PathLike[str], conversation_id: int) -> Path:
    """Where conversation `conversation_id` of the database at `database` keeps its file history."""
    return Path(database).parent / FOLDER / str(int(conversation_id))


def remove_conversation_folder(database: str | os.PathLike[str], conversation_id: int) -> None:
    """Forget a deleted conversation's file history (copies of the user's files: they go with it)."""
    import shutil

    folder = conversation_folder(database, conversation_id)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)


def shown(path: str, root: str | None) -> str:
    """`path` relative to `root` when it lies beneath it (how files are named to the user), else as it is."""
    if root and root != "/" and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Change:
    """One change of one file: in which turn, what was there before (a snapshot digest), what was written."""

    turn: int  # the store id of the turn's user message (its index in memory without a store)
    path: str  # absolute
    root: str  # the workspace the change was made in
    existed: bool  # False: the tool created the file
    before: str | None  # digest of the snapshot of the content before (None: did not exist, or too big)
    after: str  # digest of what the tool wrote
    tool: str = "write_file"
    created_dirs: tuple[str, ...] = ()
    too_big: int = 0  # the size of a previous content too big to snapshot (0: it was kept)
    when: float = field(default_factory=time.time)


@dataclass
class RestoreReport:
    """What a rewind did to the files: restored (paths) and skipped ((path, why))."""

    restored: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    root: str | None = None  # paths are shown relative to it

    def lines(self) -> list[str]:
        out = []
        if self.restored:
            n = len(self.restored)
            out.append(f"Restored {n} file{'s' if n != 1 else ''}: {', '.join(shown(p, self.root) for p in self.restored)}.")
        for path, why in self.skipped:
            out.append(f"Not restored: {shown(path, self.root)}: {why}")
        return out or ["No file was changed by a tool since then."]


class FileHistory:
    """The changes of one conversation, oldest first; on disk under `folder` (None: in memory only)."""

    def __init__(self, folder: Path | None, max_bytes: int | None = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes or MAX_SNAPSHOT_BYTES
        self.changes: list[Change] = []
        self.notices: list[str] = []
        self._blobs: dict[str, bytes] = {}  # in memory only (no folder)
        self._lock = threading.Lock()
        if folder is not None and (folder / INDEX).is_file():
            self.changes = _read_index(folder / INDEX)

    # ---- recording -------------------------------------------------------------------------------

    def record(self, turn: int, path: Path, previous: bytes | None, written_digest: str, tool: str,
               created_dirs: tuple[Path, ...], workspace: Workspace | None) -> None:
        """Keep one change (its previous content as a snapshot, unless too big: then a notice)."""
        root = str(workspace.root) if workspace is not None else "/"
        too_big = len(previous) if previous is not None and len(previous) > self.max_bytes else 0
        before = digest(previous) if previous is not None and not too_big else None
        change = Change(turn, str(path), root, previous is not None, before, written_digest, tool,
                        tuple(str(d) for d in created_dirs), too_big)
        with self._lock:
            try:
                if before is not None:
                    self._keep_blob(before, previous)  # type: ignore[arg-type]
                self._append(change)
            except OSError as exc:
                self.notices.append(f"/rewind will not be able to restore {path}: its snapshot could not be saved "
                                    f"({exc.strerror or exc}). Check free space in {self.folder}.")
            if too_big:
                self.notices.append(f"{path} was too big to snapshot ({size_text(too_big)}, more than "
                                    f"{size_text(self.max_bytes)}): /rewind cannot restore its earlier content (/undo still can).")

    def take_notices(self) -> list[str]:
        with self._lock:
            out, self.notices = self.notices, []
        return out

    def since(self, turn: int) -> list[Change]:
        with self._lock:
            return [c for c in self.changes if c.turn >= turn]

    def files_since(self, turn: int) -> list[str]:
        return list(dict.fromkeys(c.path for c in self.since(turn)))

    # ---- rewinding -------------------------------------------------------------------------------

    def restore_since(self, turn: int) -> RestoreReport:
        """Put every file changed in `turn` or later back as it was before; those changes are forgotten."""
        with self._lock:
            changes = [c for c in self.changes if c.turn >= turn]
            report = RestoreReport(root=changes[0].root if changes else None)
            by_path: dict[str, list[Change]] = {}
            for c in changes:
                by_path.setdefault(c.path, []).append(c)
            for path in sorted(by_path, key=lambda p: changes.index(by_path[p][-1]), reverse=True):
                why = self._restore(by_path[path])
                if why is None:
                    report.restored.append(path)
                else:
                    report.skipped.append((path, why))
            self._forget(turn, None)
        return report

    def forget_since(self, turn: int, retag: int | None) -> None:
        """The turns from `turn` on are gone but their files stay as they are: their changes now count as
        made in turn `retag` (the last turn kept), or are forgotten when none is kept."""
        with self._lock:
            self._forget(turn, retag)

    def _restore(self, changes: list[Change]) -> str | None:
        """Take one file back to before the first of `changes`; None when done, else why it was not."""
        first, last = changes[0], changes[-1]
        try:
            ws = Workspace(first.root)
            current = safe_files.read_bytes_or_none(ws, first.path)
        except ToolError as exc:
            return f"{exc.message} It was left as it is."
        now = digest(current) if current is not None else None
        if now == (first.before if first.existed else None) and not first.too_big:
            return None  # already as it was (e.g. /undo took it back)
        if current is not None and now != last.after:
            return "it was changed after the tool wrote it (by hand or by a command); it was left as it is, with those changes."
        try:
            if first.existed:
                if first.too_big:
                    return f"it was too big to snapshot ({size_text(first.too_big)}); it was left as it is."
                data = self._blob(first.before)  # type: ignore[arg-type]
                if data is None:
                    return "its snapshot is missing; it was left as it is."
                safe_files.write_atomic(ws, first.path, data)
                return None
            if current is not None:
                safe_files.remove_entry(ws, first.path)
            for d in reversed([d for c in changes for d in c.created_dirs]):
                try:
                    safe_files.remove_entry(ws, d, directory=True)
                except (OSError, ToolError):
                    break  # not empty any more: kept
            return None
        except ToolError as exc:
            return f"{exc.message} It was left as it is."
        except OSError as exc:
            return f"it could not be written ({exc.strerror or exc}); it was left as it is."

    def _forget(self, turn: int, retag: int | None) -> None:
        kept = [c for c in self.changes if c.turn < turn]
        if retag is not None:
            kept += [replace(c, turn=retag) for c in self.changes if c.turn >= turn]
        self.changes = kept
        self._save()

    # ---- storage ---------------------------------------------------------------------------------

    def _keep_blob(self, name: str, data: bytes) -> None:
        if self.folder is None:
            self._blobs[name] = data
            return
        blob = private_dir(self.folder / "snapshots") / name
        if not blob.exists():
            write_private(blob, data)

    def _blob(self, name: str) -> bytes | None:
        if self.folder is None:
            return self._blobs.get(name)
        try:
            return (self.folder / "snapshots" / name).read_bytes()
        except OSError:
            return None

    def _append(self, change: Change) -> None:
        self.changes.append(change)
        if self.folder is None:
            return
        private_dir(self.folder)
        fd = open_private(self.folder / INDEX)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(change)) + "\n")

    def _save(self) -> None:
        """Write the index again and drop the snapshots no change needs any more."""
        used = {c.before for c in self.changes if c.before}
        if self.folder is None:
            self._blobs = {k: v for k, v in self._blobs.items() if k in used}
            return
        if not self.folder.is_dir():
            return
        try:
            write_private(self.folder / INDEX, "".join(json.dumps(asdict(c)) + "\n" for c in self.changes).encode())
            snapshots = self.folder / "snapshots"
            for blob in snapshots.iterdir() if snapshots.is_dir() else []:
                if blob.name not in used:
                    blob.unlink(missing_ok=True)
        except OSError:
            pass  # a stale index entry or snapshot costs only disk space


def _read_index(index: Path) -> list[Change]:
    """The changes an index holds; a damaged line is skipped (its file cannot be rewound)."""
    out = []
    try:
        lines = index.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        try:
            d = json.loads(line)
            d["created_dirs"] = tuple(d.get("created_dirs") or ())
            out.append(Change(**d))
        except (ValueError, TypeError):
            continue
    return out
