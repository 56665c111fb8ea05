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


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial]

SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def pending(conn: sqlite3.Connection) -> list[tuple[int, Callable[[sqlite3.Connection], None]]]:
    """The migrations this database still needs, as (number, function)."""
    have = user_version(conn)
    return [(n, fn) for n, fn in enumerate(MIGRATIONS, 1) if n > have]


def apply(conn: sqlite3.Connection, number: int, fn: Callable[[sqlite3.Connection], None]) -> None:
    """Run one migration inside the caller's write transaction and record it."""
    fn(conn)
    conn.execute(f"PRAGMA user_version = {int(number)}")
