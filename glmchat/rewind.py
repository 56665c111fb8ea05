"""/rewind: the conversation taken back to just before one of its user messages, and (if asked) the files.

A turn is a user message and what followed it. `turns(session)` lists them (numbered, first line,
time); `rewind(session, index, restore_files)` drops that user message and everything after it, in
memory and in the store (glmchat.store.truncate), and either restores the files tools changed since
(glmchat.tools.file_history) or leaves them as they are.

Every file change a tool makes is tagged with its turn: `track(session, undo_log)` (called before
each tool call, tool_round.py) points the undo log at the conversation's file history, which lives
beside the store (`file-history/<conversation id>/`) so it survives a restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glmchat.errors import GlmchatError
from glmchat.tools.file_history import FileHistory, RestoreReport, conversation_folder
from glmchat.tools.file_history import shown as file_shown

if TYPE_CHECKING:
    from glmchat.session import ChatSession
    from glmchat.tools.undo import UndoEntry, UndoLog

FIRST_LINE = 60  # characters of a turn's first line in the list


@dataclass(frozen=True)
class Turn:
    """One user message the conversation can be rewound to."""

    number: int  # 1 = the first turn shown
    index: int  # in session.messages
    text: str  # the message as sent
    when: float | None  # when it was stored (None without a store)

    @property
    def label(self) -> str:
        line = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "(attachments only)")
        if len(line) > FIRST_LINE:
            line = line[: FIRST_LINE - 1] + "…"
        stamp = time.strftime("%H:%M", time.localtime(self.when)) + "  " if self.when else ""
        return f"{self.number:>3}. {stamp}{line}"


@dataclass
class RewindResult:
    """What a rewind did: the text to put back in the input, messages dropped, files restored (or None)."""

    text: str
    removed: int
    files: RestoreReport | None = None
    kept_files: list[str] = field(default_factory=list)  # changed since, left as they are

    def summary(self) -> str:
        lines = [f"Rewound: {self.removed} message{'s' if self.removed != 1 else ''} removed; your message is back in the input."]
        if self.files is not None:
            lines += self.files.lines()
        elif self.kept_files:
            n = len(self.kept_files)
            lines.append(f"{n} file{'s' if n != 1 else ''} changed by tools since then left as they are.")
        return "\n".join(lines)


def _tag(session: ChatSession, index: int) -> int:
    """The turn tag of the user message at `index`: its store id, or its index without one."""
    mid = session.message_ids[index] if index < len(session.message_ids) else None
    return mid if mid is not None else index


def turns(session: ChatSession) -> list[Turn]:
    """The user messages of the conversation, oldest first (times read from the store when there is one)."""
    times: dict[int, float] = {}
    if session.store is not None and session.conversation_id is not None:
        times = {m.id: m.created_at for m in session.store.messages(session.conversation_id)}
    users = [i for i in range(len(session.messages)) if session.messages[i]["role"] == "user" and not _summary(session, i)]
    return [
        Turn(n, i, session.messages[i].get("content") or "", times.get(session.message_ids[i] or -1))
        for n, i in enumerate(users, 1)
    ]


def _summary(session: ChatSession, index: int) -> bool:
    """True for the /compact summary that stands first in for older turns (not a turn to rewind to)."""
    from glmchat.compaction import ACKNOWLEDGEMENT, SUMMARY_HEADING

    after = session.messages[index + 1] if index + 1 < len(session.messages) else None
    return (index == 0 and (session.messages[0].get("content") or "").startswith(SUMMARY_HEADING)
            and after is not None and after.get("content") == ACKNOWLEDGEMENT and session.message_ids[1] is None)


def file_history(session: ChatSession) -> FileHistory:
    """The conversation's file history (on disk beside the store; in memory without one)."""
    folder: Path | None = None
    if session.store is not None and session.conversation_id is not None:
        folder = conversation_folder(session.store.path, session.conversation_id)
    key = (folder, None if folder is not None else id(session.messages))  # in memory: new() starts a new one
    current, current_key = getattr(session, "file_history", None) or (None, None)
    if current is None or current_key != key:
        current = FileHistory(folder)
        session.file_history = (current, key)
    return current


def track(session: ChatSession, undo: UndoLog) -> None:
    """Tag the file changes of the next tool call with the current turn, in the conversation's file history."""
    users = [i for i, m in enumerate(session.messages) if m["role"] == "user"]
    if not users:
        undo.on_record = None
        return
    history = file_history(session)
    tag = _tag(session, users[-1])

    def record(entry: UndoEntry) -> None:
        history.record(tag, entry.path, entry.previous, entry.written_digest, entry.tool, entry.created_dirs, entry.workspace)

    undo.on_record = record


def take_notices(session: ChatSession) -> list[str]:
    """Notices of the file history (a file too big to snapshot) since the last call."""
    held = getattr(session, "file_history", None)
    return held[0].take_notices() if held else []


def preview(session: ChatSession, index: int) -> tuple[int, list[str]]:
    """(messages that would go, files changed by tools since) for a rewind to the message at `index`."""
    _check(session, index)
    return len(session.messages) - index, file_history(session).files_since(_tag(session, index))


def shown(session: ChatSession, path: str) -> str:
    """A file as named to the user: relative to the workspace when inside it."""
    ws = session.workspace
    return file_shown(path, str(ws.root) if ws is not None else None)


def rewind(session: ChatSession, index: int, restore_files: bool = False) -> RewindResult:
    """Drop the user message at `index` and all after it (memory and store); restore files if asked."""
    with session._one_stream():
        _check(session, index)
        text = session.messages[index].get("content") or ""
        history = file_history(session)
        tag = _tag(session, index)
        earlier = [i for i in range(index) if session.messages[i]["role"] == "user"]
        changed = history.files_since(tag)
        _cut(session, index)
        result = RewindResult(text, _pop(session, index))
        if restore_files:
            undone = {(c.path, c.after) for c in history.since(tag)}
            result.files = history.restore_since(tag)
            if session.undo_log is not None:  # /undo must not try to take those changes back again
                session.undo_log.discard(undone)
        else:
            result.kept_files = changed
            history.forget_since(tag, _tag(session, earlier[-1]) if earlier else None)
        return result


def _check(session: ChatSession, index: int) -> None:
    if not 0 <= index < len(session.messages) or session.messages[index]["role"] != "user":
        raise GlmchatError("That message is not in this conversation any more.", "Run /rewind again to pick another.")


def _cut(session: ChatSession, index: int) -> None:
    """Delete the message at `index` and all after it from the store (only stored ones have ids)."""
    from glmchat.store.truncate import delete_from

    stored = [mid for mid in session.message_ids[index:] if mid is not None]
    if session.store is not None and session.conversation_id is not None and stored:
        kept = [mid for mid in session.message_ids[:index] if mid is not None]  # a summary is stored after its turns
        delete_from(session.store, session.conversation_id, stored[0], kept)


def _pop(session: ChatSession, index: int) -> int:
    removed = len(session.messages) - index
    del session.messages[index:]
    del session.message_ids[index:]
    session.omitted_messages = min(session.omitted_messages, max(len(session.messages) - 1, 0))
    return removed


def stored_messages(session: ChatSession) -> list[Any]:
    """The conversation's stored rows (to show it again after a rewind); empty without a store."""
    if session.store is None or session.conversation_id is None:
        return []
    return session.store.messages(session.conversation_id)
