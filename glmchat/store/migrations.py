"""Schema changes as numbered migrations; `PRAGMA user_version` says how many have run.

Migration N is `MIGRATIONS[N - 1]`. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from typing import Callable


def _m1_initial(conn: sqlite3.Connection) -> None:
    """Conversations, messages, and an FTS5 index over message text kept in step by triggers."""
    _script(
        conn,
        """
        CREATE TABLE conversations (
            id            INTEGER PRIMARY KEY,
            title         TEXT NOT NULL DEFAULT '',
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL,
            last_activity REAL NOT NULL,
            model         TEXT,
            quant         TEXT,
            profile       TEXT,
            thinking_mode TEXT NOT NULL DEFAULT 'on',
            system_prompt TEXT,
            settings      TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX conversations_activity ON conversations(last_activity DESC, id DESC);

        CREATE TABLE messages (
            id              INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq             INTEGER NOT NULL,
            role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content         TEXT NOT NULL DEFAULT '',
            reasoning       TEXT,
            tool_calls      TEXT,
            tool_call_id    TEXT,
            name            TEXT,
            status          TEXT NOT NULL DEFAULT 'complete'
                            CHECK (status IN ('complete', 'partial', 'cancelled', 'error', 'interrupted')),
            usage           TEXT,
            created_at      REAL NOT NULL,
            meta            TEXT NOT NULL DEFAULT '{}',
            UNIQUE (conversation_id, seq)
        );
        CREATE INDEX messages_partial ON messages(status) WHERE status = 'partial';

        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, reasoning,
            content = 'messages', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content, reasoning)
            VALUES (new.id, new.content, coalesce(new.reasoning, ''));
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, reasoning)
            VALUES ('delete', old.id, old.content, coalesce(old.reasoning, ''));
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, reasoning ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, reasoning)
            VALUES ('delete', old.id, old.content, coalesce(old.reasoning, ''));
            INSERT INTO messages_fts(rowid, content, reasoning)
            VALUES (new.id, new.content, coalesce(new.reasoning, ''));
        END;
        """
    )


def _script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one (executescript would COMMIT the caller's transaction first)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            conn.execute(buf)
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")


def _m2_ids_never_reused(conn: sqlite3.Connection) -> None:
    """Conversation and message ids are never given out again after a delete (AUTOINCREMENT).

    SQLite cannot add AUTOINCREMENT to a table, so both tables are rebuilt as its documented
    procedure says (https://sqlite.org/lang_altertable.html#otheralter): the store runs this with
    foreign keys off, inside the open transaction, and `apply` checks the keys before COMMIT. Every
    row keeps its id; the indexes and triggers are read from the schema and made again. The old
    `messages` goes before the old `conversations`, so even with foreign keys on no ON DELETE CASCADE
    can touch a row; ids and rowids are kept, so the FTS index still matches its rows.
    """
    kept = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
        " AND tbl_name IN ('conversations', 'messages') ORDER BY type, name")]
    _script(
        conn,
        """
        CREATE TABLE conversations_new (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            title         TEXT NOT NULL DEFAULT '',
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL,
            last_activity REAL NOT NULL,
            model         TEXT,
            quant         TEXT,
            profile       TEXT,
            thinking_mode TEXT NOT NULL DEFAULT 'on',
            system_prompt TEXT,
            settings      TEXT NOT NULL DEFAULT '{}'
        );
        INSERT INTO conversations_new (id, title, created_at, updated_at, last_activity, model, quant, profile,
                                       thinking_mode, system_prompt, settings)
            SELECT id, title, created_at, updated_at, last_activity, model, quant, profile, thinking_mode,
                   system_prompt, settings FROM conversations;

        CREATE TABLE messages_new (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations_new(id) ON DELETE CASCADE,
            seq             INTEGER NOT NULL,
            role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content         TEXT NOT NULL DEFAULT '',
            reasoning       TEXT,
            tool_calls      TEXT,
            tool_call_id    TEXT,
            name            TEXT,
            status          TEXT NOT NULL DEFAULT 'complete'
                            CHECK (status IN ('complete', 'partial', 'cancelled', 'error', 'interrupted')),
            usage           TEXT,
            created_at      REAL NOT NULL,
            meta            TEXT NOT NULL DEFAULT '{}',
            UNIQUE (conversation_id, seq)
        );
        INSERT INTO messages_new (id, conversation_id, seq, role, content, reasoning, tool_calls, tool_call_id, name,
                                  status, usage, created_at, meta)
            SELECT id, conversation_id, seq, role, content, reasoning, tool_calls, tool_call_id, name, status,
                   usage, created_at, meta FROM messages;

        DROP TABLE messages;
        DROP TABLE conversations;
        ALTER TABLE conversations_new RENAME TO conversations;
        ALTER TABLE messages_new RENAME TO messages;
        """
    )
    for sql in kept:
        conn.execute(sql)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial, _m2_ids_never_reused]

SCHEMA_VERSION = len(MIGRATIONS)
# The oldest schema whose tables this version reads as they are: a database that cannot be written
# (so cannot be migrated) is still read when it is at least this. Migration 2 changed only how ids
# are given out.
READABLE_SINCE = 1


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def pending(conn: sqlite3.Connection) -> list[tuple[int, Callable[[sqlite3.Connection], None]]]:
    """The migrations this database still needs, as (number, function)."""
    have = user_version(conn)
    return [(n, fn) for n, fn in enumerate(MIGRATIONS, 1) if n > have]


def apply(conn: sqlite3.Connection, number: int, fn: Callable[[sqlite3.Connection], None]) -> None:
    """Run one migration inside the caller's write transaction, check the foreign keys, and record it.

    A row the migration left without its parent fails it (rows that had none before are not its
    doing): the transaction is then rolled back and the database stays as it was.
    """
    before = _orphans(conn)
    fn(conn)
    broken = _orphans(conn) - before
    if broken:
        table, rowid, parent = min(broken, key=str)
        raise sqlite3.IntegrityError(f"migration {number} left {len(broken)} row(s) without their parent "
                                     f"(first: {table} row {rowid} → {parent})")
    conn.execute(f"PRAGMA user_version = {int(number)}")


def _orphans(conn: sqlite3.Connection) -> set[tuple[str, int, str]]:
    """(table, rowid, parent table) of every row whose foreign key finds no parent."""
    return {(str(r[0]), r[1], str(r[2])) for r in conn.execute("PRAGMA foreign_key_check").fetchall()}
