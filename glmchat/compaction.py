"""Compaction: older turns replaced in the prompt by a summary the model wrote (/compact).

Nothing is deleted: the store keeps every message, flags the summarised ones `compacted` and adds
the summary as a user message flagged `summary`. `history_from_store` reads a conversation back the
same way the session holds it after `ChatSession.compact()`: the latest summary and the model's
short acknowledgement first, then the turns that were not compacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # no import at run time: the session loads without the store
    from glmchat.store.models import Message

ACKNOWLEDGEMENT = "Understood."  # the assistant turn after a summary, so user and assistant still alternate
SUMMARY_HEADING = "Summary of the earlier conversation:\n\n"
SUMMARY_INSTRUCTION = (
    "Summarise the conversation below in a few short paragraphs, keeping facts, decisions, "
    "file names and open questions. Write only the summary.\n\n"
)


def history_from_store(stored: Iterable["Message"]) -> tuple[list[dict[str, Any]], list[int | None]]:
    """(chat messages, their store ids) of a stored conversation; system rows and compacted turns left out."""
    summaries, rest = [], []
    for m in stored:
        meta = m.meta or {}
        if m.role == "system" or meta.get("compacted"):
            continue
        (summaries if meta.get("summary") else rest).append(m)
    messages: list[dict[str, Any]] = []
    ids: list[int | None] = []
    for m in summaries[-1:]:  # the latest summary stands in for the compacted turns
        messages += [m.to_chat(), acknowledgement()]
        ids += [m.id, None]
    for m in rest:
        messages.append(m.to_chat())
        ids.append(m.id)
    return messages, ids


def compaction_cut(messages: list[dict[str, Any]], keep_last_turns: int) -> int | None:
    """Index of the first message kept as it is (the start of the last `keep_last_turns` turns); None: too few turns."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if len(users) <= keep_last_turns:
        return None
    return users[-keep_last_turns]


def summary_request(older: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The one user message asking for a summary of `older` (their text only, one paragraph per message)."""
    transcript = "\n\n".join(f"{m['role'].upper()}: {m.get('content') or ''}" for m in older if m.get("content"))
    return [{"role": "user", "content": SUMMARY_INSTRUCTION + transcript}]


def summary_text(summary: str) -> str:
    """The stored content of the summary message."""
    return SUMMARY_HEADING + summary


def acknowledgement() -> dict[str, Any]:
    return {"role": "assistant", "content": ACKNOWLEDGEMENT}
