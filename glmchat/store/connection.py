"""Opening the conversation database: connections, what SQLite's errors mean, and what is done about them.

A database is moved aside only when SQLite itself says it is damaged (SQLITE_NOTADB, or
SQLITE_CORRUPT confirmed by `PRAGMA quick_check`), never because it cannot be written: a database
that is merely read-only (a root-owned file left by a `sudo` run, a read-only folder or mount) keeps
its name and its conversations. Writing front ends then refuse with what to do; reading commands
open it read-only (`file:…?mode=ro`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from glmchat.private_files import make_private, open_private
from glmchat.store.errors import StoreError, UnwritableError

SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 14, 26
SIDE_FILES = ("-wal", "-shm")


def errcode(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of `exc` (None when Python did not say)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _says(exc: sqlite3.Error, codes: tuple[int, ...], words: tuple[str, ...]) -> bool:
    """SQLite's result code is one of `codes` (or, where Python gives no code, the text has one of `words`)."""
    code = errcode(exc)
    if code is not None:
        return code in codes
    text = str(exc).lower()
    return any(w in text for w in words)


def is_busy(exc: sqlite3.Error) -> bool:
    return _says(exc, (SQLITE_BUSY, SQLITE_LOCKED), ("locked", "busy"))


def is_corrupt(exc: sqlite3.Error) -> bool:
    return _says(exc, (SQLITE_CORRUPT, SQLITE_NOTADB), ("not a database", "malformed"))


def is_unwritable(exc: sqlite3.Error) -> bool:
    """The file or its folder cannot be written (or opened) by this user: permissions, not damage."""
    return _says(exc, (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM), ("readonly", "read-only", "unable to open"))


def _text(data: bytes) -> str:
    """Column text as Python text; bytes that are not UTF-8 (written by another program) are replaced."""
    return data.decode("utf-8", errors="replace")


def read_only_uri(path: Path, immutable: bool = False) -> str:
    return path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def connect(path: Path, busy_ms: int, *, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """A connection set up for the store: WAL, foreign keys, a busy timeout; or a read-only one."""
    if read_only:
        conn = sqlite3.connect(read_only_uri(path, immutable), uri=True, timeout=busy_ms / 1000,
                               isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
    conn.text_factory = _text
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if not read_only:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"Cannot switch {path} to WAL mode (it stays in {mode!r}).",
                                 "Put the data directory on a local disk (GLMCHAT_DATA_DIR).")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def foreign_keys_off(conn: sqlite3.Connection) -> Iterator[None]:
    """Foreign keys off on `conn` for the block (the migrations), back on after.

    SQLite's table-rebuild procedure (https://sqlite.org/lang_altertable.html#otheralter): the pragma
    is a no-op inside a transaction, so it is set before the block's transaction begins and after it
    ends; `migrations.apply` runs `PRAGMA foreign_key_check` before the COMMIT.
    """
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        with suppress(sqlite3.Error):
            conn.execute("PRAGMA foreign_keys = ON")


def create_private(path: Path) -> None:
    """Make the database file 0600 before SQLite opens it (its -wal and -shm copy its mode)."""
    try:
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)))
    except OSError:  # a read-only folder or file: SQLite's own open says what is wrong
        return
    for suffix in SIDE_FILES:
        make_private(str(path) + suffix)


def damage_confirmed(path: Path, exc: sqlite3.Error) -> bool:
    """True when SQLite says the file is damaged: not a database at all, or `quick_check` fails."""
    if _says(exc, (SQLITE_NOTADB,), ("not a database",)):
        return True
    if not is_corrupt(exc):
        return False
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)  # read-write: its close removes -wal/-shm
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc2:
        return is_corrupt(exc2)
    return [tuple(r) for r in rows] != [("ok",)]


def move_aside(path: Path, why: str) -> str:
    """Rename a damaged database (and its -wal/-shm) to NAME.corrupt-STAMP; returns the notice to show."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
        for suffix in SIDE_FILES:
            side = Path(str(path) + suffix)
            if side.exists():
                os.replace(side, Path(str(target) + suffix))
    except OSError as exc:
        raise StoreError(f"{path} is damaged ({why}) and could not be moved aside: {exc.strerror or exc}.",
                         "Move or remove it yourself, then start glmchat again.") from None
    return f"The conversation database {path} was damaged ({why}); it was moved to {target.name} and a new one was started."


def access_hint(path: Path) -> str:
    return (f'Give it back to your user (sudo chown -R "$USER" {path.parent}, or chmod u+rw {path}), '
            "or set GLMCHAT_DATA_DIR to another folder (`glmchat ask --no-history` saves nothing).")


def cannot_save(path: Path, exc: BaseException) -> UnwritableError:
    """The refusal of a writing front end (the TUI, `ask`, rename/delete/import) on a read-only database."""
    return UnwritableError(f"Cannot save conversations: {path} cannot be written by this user ({exc}); "
                           "nothing was changed.", access_hint(path), cause=exc)


def read_only_notice(path: Path, exc: BaseException) -> str:
    return (f"{path} cannot be written by this user ({exc}), so it is open read-only: nothing can be saved "
            f"or changed. {access_hint(path)}")
