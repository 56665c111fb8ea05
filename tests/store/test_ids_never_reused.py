"""Deleted conversation and message ids never come back (migration 2: AUTOINCREMENT), and a database
made by the first schema migrates with every row, index, trigger and foreign key intact."""

from __future__ import annotations

import sqlite3

import pytest

from glmchat.store import Store, StoreError, migrations


def test_a_new_conversation_never_gets_a_deleted_id(tmp_path):
    with Store(tmp_path / "c.db") as store:
        ids = [store.create_conversation(f"c{i}").id for i in range(8)]
        assert ids == list(range(1, 9))
        store.delete(8)
        assert store.create_conversation("after").id == 9
        store.delete(9)
        store.delete(7)
    with Store(tmp_path / "c.db") as store:  # and not after reopening either
        assert store.create_conversation("reopened").id == 10


def test_message_ids_are_not_reused_after_a_retry_drops_them(tmp_path):
    with Store(tmp_path / "c.db") as store:
        conv = store.create_conversation()
        first = store.add_message(conv.id, "user", "question")
        dropped = store.add_message(conv.id, "assistant", "answer")
        store.truncate_after(conv.id, first.id)
        assert store.add_message(conv.id, "assistant", "again").id == dropped.id + 1


# ---- an old database ------------------------------------------------------------------------------


def _old_database(path) -> None:
    """A database as the first schema made it (user_version 1), with rows of every kind."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    migrations.apply(conn, 1, migrations.MIGRATIONS[0])
    conn.execute("COMMIT")
    for i in range(1, 9):
        conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, last_activity, model, quant, profile,"
            " thinking_mode, system_prompt, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f"talk {i}", 1000.0 + i, 1100.0 + i, 1200.0 + i, "GLM-4.7-Flash", "UD-Q4_K_XL", "general",
             "preserve" if i % 2 else "on", "be brief" if i == 3 else None, f'{{"k": {i}}}'))
        conn.execute("INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES (?, 1, 'user', ?, ?)",
                     (i, f"question {i} about zebrafish{i}", 1000.0 + i))
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, reasoning, tool_calls, status, usage, created_at,"
            " meta) VALUES (?, 2, 'assistant', ?, ?, ?, ?, ?, ?, ?)",
            (i, f"answer {i}", f"thought {i} platypus", '[{"id": "c1", "name": "read_file", "arguments": {}}]',
             "cancelled" if i == 2 else "complete", f'{{"completion_tokens": {i}}}', 1001.0 + i, '{"x": 1}'))
        conn.execute("INSERT INTO messages (conversation_id, seq, role, content, tool_call_id, name, created_at)"
                     " VALUES (?, 3, 'tool', 'file text', 'c1', 'read_file', ?)", (i, 1002.0 + i))
    conn.execute("DELETE FROM conversations WHERE id = 5")  # a gap, as deletes leave
    conn.close()


def _rows(path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("conversations", "messages")}
    finally:
        conn.close()


def _schema(path, kind: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))}
    finally:
        conn.close()


def test_an_old_database_migrates_with_every_row_intact(tmp_path):
    path = tmp_path / "old.db"
    _old_database(path)
    before, indexes, triggers = _rows(path), _schema(path, "index"), _schema(path, "trigger")
    assert len(before["conversations"]) == 7 and len(before["messages"]) == 21

    with Store(path) as store:
        assert _rows(path) == before  # every column of every row, ids included
        assert _schema(path, "index") == indexes and _schema(path, "trigger") == triggers
        assert [h.conversation_id for h in store.search("zebrafish3")] == [3]  # the old FTS index still matches
        assert [h.conversation_id for h in store.search("platypus")] and store.get_conversation(3).system_prompt == "be brief"
        assert store.create_conversation("new").id == 9
        store.add_message(9, "user", "a fresh wombat")
        assert [h.conversation_id for h in store.search("wombat")] == [9]  # the triggers were made again
        store.delete(3)  # ON DELETE CASCADE still holds, and the delete trigger empties the index
        assert store.search("zebrafish3") == []

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM messages WHERE conversation_id = 3").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")  # raises when out of step
        assert [r[3] for r in conn.execute("PRAGMA foreign_key_list(messages)")] == ["conversation_id"]
        assert all("AUTOINCREMENT" in sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE name IN ('conversations', 'messages')"))
    finally:
        conn.close()


def test_the_rebuild_keeps_every_message_even_with_foreign_keys_on(tmp_path):
    """The store turns foreign keys off for it; were they on, dropping the old tables must still
    cascade into nothing."""
    path = tmp_path / "old.db"
    _old_database(path)
    before = _rows(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN IMMEDIATE")
    migrations.apply(conn, 2, migrations.MIGRATIONS[1])
    conn.execute("COMMIT")
    conn.close()
    assert _rows(path) == before


def test_a_failing_migration_leaves_the_old_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _old_database(path)
    before = _rows(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM messages")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
    with pytest.raises(StoreError):
        Store(path)
    assert _rows(path) == before
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # migration 2 rolled back with it
        assert "AUTOINCREMENT" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'conversations'").fetchone()[0]
    finally:
        conn.close()


def test_a_migration_that_orphans_rows_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _old_database(path)
    before = _rows(path)

    def orphaning(conn: sqlite3.Connection) -> None:  # with foreign keys on this would cascade instead
        conn.execute("DELETE FROM conversations WHERE id = 1")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, orphaning])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
    with pytest.raises(StoreError, match="without their parent"):
        Store(path)
    assert _rows(path) == before


@pytest.mark.parametrize("folder", [False, True], ids=["read-only file", "read-only folder"])
def test_an_old_database_that_cannot_be_written_is_still_read(tmp_path, monkeypatch, folder):
    """It cannot be migrated, but migration 2 changed no column: `history list` and `show` still read it."""
    from glmchat.history import History
    from tests.read_only_db import deny_writes

    path = tmp_path / "old.db"
    _old_database(path)
    before = path.read_bytes()
    deny_writes(monkeypatch, path, folder=folder)
    with History(Store(path, read_only_ok=True)) as history:
        assert history.read_only and len(history.list()) == 7
        assert [m.content for m in history.messages(3)][:2] == ["question 3 about zebrafish3", "answer 3"]
    assert path.read_bytes() == before
