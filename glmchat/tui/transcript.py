"""A stored conversation as the chat log shows it: one entry per widget, each widget built only when
the log mounts it (the log mounts the tail first and older entries as the user scrolls up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.widget import Widget

from glmchat.terminal_text import visible
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.tool_block import ToolBlock
from glmchat.tui.widgets.user_message import UserMessage

STOPPED_NOTES = {"cancelled": "⏹ Stopped — partial answer", "error": "✖ Failed — partial answer"}


@dataclass
class Entry:
    """One widget's worth of a stored conversation: a user message, a notice (a /compact summary),
    an answer (with its thinking) or a tool call (with its result, once the tool message is read)."""

    kind: str  # "user", "notice", "answer" or "tool"
    text: str = ""  # the message, the notice or the answer as stored
    reasoning: str | None = None
    status: str = "complete"
    name: str = ""
    arguments: dict = field(default_factory=dict)
    result: tuple[str, bool, str] | None = None  # (output, ok, decision) of a tool call

    @property
    def answer(self) -> str:
        """The answer as its widget shows it (what `AssistantMessage.answer` holds)."""
        return visible(self.text) if self.kind == "answer" else ""

    def lines(self, width: int) -> int:
        """About how many rows the widget takes at `width` columns (to size the first screens)."""
        if self.kind == "tool":
            output = self.result[0] if self.result else ""
            return 3 + min(12, output.count("\n") + 1)
        width = max(20, width - 12)
        rows = sum(1 + len(line) // width for line in self.text.splitlines())
        return rows + (1 if self.reasoning else 0) + 2

    def widget(self) -> Widget:
        if self.kind == "user":
            return UserMessage(self.text)
        if self.kind == "notice":
            return NoticeBlock(self.text)
        if self.kind == "tool":
            return ToolBlock(self.name, self.arguments, result=self.result)
        note = STOPPED_NOTES.get(self.status)
        return AssistantMessage.stored(self.text, self.reasoning, self.status if note else "complete", note)


def transcript_entries(messages: list[Any]) -> list[Entry]:
    """glmchat.store Message rows (oldest first) → the entries the chat log shows, oldest first.
    System messages and messages a /compact replaced are not shown; a tool's result goes with its call."""
    entries: list[Entry] = []
    calls: dict[str, Entry] = {}
    for m in messages:
        meta = m.meta or {}
        if m.role == "system" or meta.get("compacted"):
            continue
        if m.role == "user":
            entries.append(Entry("notice" if meta.get("summary") else "user", m.content))
        elif m.role == "assistant":
            if m.reasoning or m.content:
                entries.append(Entry("answer", m.content or "", reasoning=m.reasoning, status=m.status))
            for c in m.tool_calls or []:
                entry = Entry("tool", name=c.get("name", "?"), arguments=c.get("arguments") or {})
                entries.append(entry)
                if c.get("id"):
                    calls[c["id"]] = entry
        elif m.role == "tool":
            entry = calls.get(m.tool_call_id or "")
            if entry is not None:
                entry.result = (m.content, bool(meta.get("ok", True)), meta.get("decision", "auto"))
    return entries
