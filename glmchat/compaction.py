"""Compaction: older turns replaced in the prompt by a summary the model wrote (/compact).

Nothing is deleted: the store keeps every message, flags the summarised ones `compacted` and adds
the summary as a user message flagged `summary`. `history_from_store` reads a conversation back the
same way the session holds it after `ChatSession.compact()`: the latest summary and the model's
short acknowledgement first, then the turns that were not compacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

from glmchat.glm import Answer
from glmchat.session_events import Notice, PromptProgressed, SessionEvent, TurnFailed, TurnFinished, TurnStarted

if TYPE_CHECKING:  # no import at run time: the session loads without the store
    from glmchat.engine.base import CancelToken
    from glmchat.session import ChatSession
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


def run_compaction(session: ChatSession, cancel: CancelToken, keep_last_turns: int = 1) -> Iterator[SessionEvent]:
    """/compact: the model summarises the turns before the last `keep_last_turns`; the summary replaces
    them in the prompt (and is stored; the summarised messages are flagged, never deleted)."""
    cut = compaction_cut(session.messages, keep_last_turns)
    if cut is None:
        yield Notice("Nothing to compact yet.")
        return
    older = session.messages[:cut]
    saved = (session.messages, session.message_ids, session.thinking)
    session.messages = summary_request(older)
    session.message_ids = [None]
    session.thinking = "off"
    store, session.store = session.store, None
    summary = ""
    try:
        for ev in session.run_turn(cancel):
            if isinstance(ev, TurnFinished):
                summary = ev.answer.strip()
                if ev.status != "complete" or not summary:
                    yield Notice("Compaction stopped; nothing was changed.", "warning")
                    summary = ""
            elif isinstance(ev, (TurnFailed, Answer, TurnStarted, PromptProgressed)):
                yield ev
    finally:
        session.store = store
        session.messages, session.message_ids, session.thinking = saved
    if not summary:
        return
    content = summary_text(summary)
    if session.store is not None and session.conversation_id is not None:
        for mid in session.message_ids[:cut]:
            if mid is not None:
                session.store.update_message(mid, meta={"compacted": True})
        sm = session.store.add_message(session.conversation_id, "user", content, meta={"summary": True})
        # summary goes first in the prompt; it is stored last, so order only matters in memory
        new_id = sm.id
    else:
        new_id = None
    session.messages = [{"role": "user", "content": content}, acknowledgement()] + session.messages[cut:]
    session.message_ids = [new_id, None] + session.message_ids[cut:]
    session.omitted_messages = 0
    yield Notice(f"Compacted {len(older)} messages into a summary of {len(summary):,} characters.")
