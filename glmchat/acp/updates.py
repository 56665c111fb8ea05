"""Session events (glmchat.session_events) and stored messages as ACP session updates.

`EventTranslator` turns one prompt turn's events into `session/update` payloads and remembers each
tool call's ACP id so its result (and an approval request) names the same call; `replay` turns a
stored conversation's messages into the updates `session/load` sends.
"""

from __future__ import annotations

import json
from typing import Any

from acp import (
    start_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
    update_user_message_text,
)

from glmchat.session_events import (
    Answer,
    Thinking,
    ToolCall,
    ToolResultEvent,
    TurnFinished,
)

STOP_REASONS = {"complete": "end_turn", "length": "max_tokens", "cancelled": "cancelled", "stopped": "end_turn"}
KINDS = {"read_file": "read", "list_dir": "read", "glob": "search", "grep": "search", "write_file": "edit",
         "edit_file": "edit", "run_shell": "execute", "python": "execute", "web_fetch": "fetch"}


def tool_kind(name: str) -> str:
    return KINDS.get(name, "other")


def title_of(name: str, arguments: Any) -> str:
    """'write_file docs/out.md': the tool and its path or command when it has one."""
    args = arguments if isinstance(arguments, dict) else {}
    for key in ("path", "command", "pattern", "url", "query"):
        if isinstance(args.get(key), str):
            return f"{name} {args[key]}"[:200]
    return name


class EventTranslator:
    """One session's tool-call ids; `update(event)` → an ACP update or None (events with no counterpart)."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: dict[int, str] = {}  # id(ToolCall) → ACP toolCallId
        self.stop_reason: str | None = None

    def call_id(self, call: ToolCall) -> str:
        if id(call) not in self.ids:
            self.count += 1
            self.ids[id(call)] = f"call-{self.count}"
        return self.ids[id(call)]

    def update(self, ev: Any) -> Any | None:
        if isinstance(ev, Thinking):
            return update_agent_thought_text(ev.text) if ev.text else None
        if isinstance(ev, Answer):
            return update_agent_message_text(ev.text) if ev.text else None
        if isinstance(ev, ToolCall):
            return start_tool_call(self.call_id(ev), title_of(ev.name, ev.arguments), kind=tool_kind(ev.name),
                                   status="pending", raw_input=ev.arguments)
        if isinstance(ev, ToolResultEvent):
            content = [tool_content(text_block(ev.output))]
            if ev.diff:
                content.append(tool_content(text_block(ev.diff)))
            return update_tool_call(self.call_id(ev.call), status="completed" if ev.ok else "failed",
                                    content=content, raw_output={"decision": ev.decision, "ok": ev.ok})
        if isinstance(ev, TurnFinished):
            self.stop_reason = STOP_REASONS.get(ev.status, "end_turn")
        return None


def replay(messages: list[Any]) -> list[Any]:
    """The updates that show a stored conversation: user, thinking, answer, tool calls and results."""
    out: list[Any] = []
    pending: list[str] = []
    n = 0
    for msg in messages:
        if msg.role == "user" and msg.content:
            out.append(update_user_message_text(msg.content))
        elif msg.role == "assistant":
            if msg.reasoning:
                out.append(update_agent_thought_text(msg.reasoning))
            if msg.content:
                out.append(update_agent_message_text(msg.content))
            for call in msg.tool_calls or []:
                n += 1
                pending.append(f"stored-{n}")
                name = str(call.get("name", "tool"))
                out.append(start_tool_call(pending[-1], title_of(name, call.get("arguments")), kind=tool_kind(name),
                                           status="pending", raw_input=_jsonable(call.get("arguments"))))
        elif msg.role == "tool" and pending:
            out.append(update_tool_call(pending.pop(0), status="completed",
                                        content=[tool_content(text_block(msg.content or ""))]))
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)
