"""Full-text search over the messages (the FTS5 table `messages_fts`, kept by triggers)."""

from __future__ import annotations

import re
from typing import Any


def fts_query(text: str) -> str | None:
    """User words → an FTS5 query: every word must occur; the last one may be a prefix."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    parts = [f'"{w}"' for w in words]
    parts[-1] += "*"
    return " ".join(parts)


def search_query(text: str, limit: int, conversation_id: int | None,
                 markers: tuple[str, str]) -> tuple[str, list[Any]] | None:
    """(SQL, arguments) of a search whose rows make `SearchHit`s, best first; None when `text` has no words."""
    query = fts_query(text)
    if query is None:
        return None
    sql = (
        "SELECT m.conversation_id, c.title, m.id, m.seq, m.role,"
        " snippet(messages_fts, -1, ?, ?, '…', 16), m.created_at"
        " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
        " JOIN conversations c ON c.id = m.conversation_id"
        " WHERE messages_fts MATCH ?"
    )
    args: list[Any] = [markers[0], markers[1], query]
    if conversation_id is not None:
        sql += " AND m.conversation_id = ?"
        args.append(conversation_id)
    sql += " ORDER BY rank LIMIT ?"
    args.append(int(limit))
    return sql, args
