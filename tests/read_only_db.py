"""A database this user may not write, as an ordinary user meets it, for tests that run as root.

Root ignores file modes, so `deny_writes` answers at the two boundaries the way the system does for
an ordinary user: `os.access` says "not writable"; SQLite opens a read-only file read-only (reads
work, every write is SQLITE_READONLY) and, in a read-only folder without -wal/-shm files, fails
every statement with SQLITE_READONLY_DIRECTORY unless the file is opened `immutable=1` (what
`setpriv --reuid=nobody` shows on a real file; tests/store/test_read_only_database.py checks it).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from glmchat.store import Store

SQLITE_READONLY_DIRECTORY = 1544  # SQLITE_READONLY | (6 << 8)


def two_conversations(path: Path) -> bytes:
    """A database at `path` with two conversations ("Trip to Lisbon", "Tax return"); its bytes."""
    with Store(path) as s:
        for title in ("Trip to Lisbon", "Tax return"):
            conv = s.create_conversation(title=title)
            s.add_message(conv.id, "user", f"notes about {title}")
    return path.read_bytes()


def deny_writes(monkeypatch, path: Path, *, folder: bool) -> None:
    """What an ordinary user meets when `path` (or, with `folder`, its folder) is not theirs to write."""
    denied = {str(path.parent)} if folder else {str(path)}
    real_access, real_connect = os.access, sqlite3.connect

    def access(p, mode, *a, **kw):
        if str(p) in denied and mode & os.W_OK:
            return False
        return real_access(p, mode, *a, **kw)

    class ReadOnlyFolder(sqlite3.Connection):
        def execute(self, *args, **kwargs):
            err = sqlite3.OperationalError("attempt to write a readonly database")
            err.sqlite_errorcode, err.sqlite_errorname = SQLITE_READONLY_DIRECTORY, "SQLITE_READONLY_DIRECTORY"
            raise err

    def connect(database, *args, **kwargs):
        target = str(database)
        if target.startswith("file:") and "immutable=1" in target:
            return real_connect(database, *args, **kwargs)  # nothing is written: a read-only folder is fine
        if Path(target.split("?")[0].removeprefix("file://")).resolve() != path.resolve():
            return real_connect(database, *args, **kwargs)
        if folder:
            return real_connect(database, *args, factory=ReadOnlyFolder, **kwargs)
        kwargs.pop("uri", None)  # SQLite opens a file it may not write read-only, silently
        return real_connect(path.absolute().as_uri() + "?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(sqlite3, "connect", connect)
