"""How conversations and messages sit in SQLite rows: the SELECTs, the JSON columns, row → record."""

from __future__ import annotations

import json
from typing import Any

from glmchat.store.models import Conversation, Message

MAX_TIME = 32_503_680_000.0  # 3000-01-01 in Unix seconds: what time.localtime() renders everywhere

CONVERSATION_COLUMNS = ("title", "model", "quant", "profile", "thinking_mode", "system_prompt", "settings")
MESSAGE_COLUMNS = ("content", "reasoning", "tool_calls", "tool_call_id", "name", "status", "usage", "meta")

CONV_SELECT = """
    SELECT c.id, c.title, c.created_at, c.updated_at, c.model, c.quant, c.profile, c.thinking_mode,
           c.system_prompt, c.settings,
           (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
           c.last_activity
    FROM conversations c
"""
INSERT_CONVERSATION = ("INSERT INTO conversations (title, created_at, updated_at, last_activity, model, quant, profile,"
                       " thinking_mode, system_prompt, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_MESSAGE = ("INSERT INTO messages (conversation_id, seq, role, content, reasoning, tool_calls, tool_call_id,"
                  " name, status, usage, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
MSG_SELECT = """
    SELECT id, conversation_id, seq, role, content, reasoning, tool_calls, tool_call_id, name, status,
           usage, created_at, meta
    FROM messages
"""


def clean_text(text: str) -> str:
    """`text` as SQLite (UTF-8) can store it: each lone surrogate becomes U+FFFD, the rest is kept.

    Lone surrogates are how Python carries bytes that are not UTF-8 (a file name read with
    surrogateescape, invalid stdin, "\\ud800" in JSON); encoding them would raise UnicodeEncodeError.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # rare: the slow path joins real pairs and replaces the lone ones
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with every text value passed through `clean_text`."""
    return {k: clean_text(v) if isinstance(v, str) else v for k, v in fields.items()}


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    return clean_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def loads(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # damaged, or nested too deep by an older import
        return default


def usage_dict(usage: Any) -> dict[str, Any] | None:
    """Accept a plain mapping or an object with `to_dict()` (e.g. glmchat.engine.base.Usage)."""
    if usage is None:
        return None
    if hasattr(usage, "to_dict"):
        usage = usage.to_dict()
    if not isinstance(usage, dict):
        raise ValueError("usage must be a mapping")
    return dict(usage)


def when(value: Any) -> float:
    """A stored time as every front end can format it: within 1970–3000 (an older glmchat imported
    times like 1e20, which time.localtime() refuses)."""
    try:
        t = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(max(t, 0.0), MAX_TIME) if t == t else 0.0


def row_conversation(row: tuple) -> Conversation:
    return Conversation(
        id=row[0], title=row[1] or "", created_at=when(row[2]), updated_at=when(row[3]), model=row[4],
        quant=row[5], profile=row[6], thinking_mode=row[7], system_prompt=row[8], settings=loads(row[9], {}),
        message_count=row[10], last_activity=when(row[11]),
    )


def row_message(row: tuple) -> Message:
    return Message(
        id=row[0], conversation_id=row[1], seq=row[2], role=row[3], content=row[4], reasoning=row[5],
        tool_calls=loads(row[6]), tool_call_id=row[7], name=row[8], status=row[9], usage=loads(row[10]),
        created_at=when(row[11]), meta=loads(row[12], {}),
    )
