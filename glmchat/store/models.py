"""The two record types the store hands out: `Conversation` and `Message`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("complete", "partial", "cancelled", "error", "interrupted")
# the word people see for a stored status (the TUI's "Stopped"); the stored value stays as it is
SHOWN_STATUS = {"cancelled": "stopped", "partial": "interrupted"}


@dataclass
class Conversation:
    """One conversation. Times are Unix seconds; `title` is "" until one is set."""

    id: int
    title: str
    created_at: float
    updated_at: float
    model: str | None = None
    quant: str | None = None
    profile: str | None = None
    thinking_mode: str = "on"
    system_prompt: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    message_count: int = 0
    last_activity: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Message:
    """One message of a conversation, in `seq` order.

    `tool_calls` entries are {"id": str | None, "name": str, "arguments": dict}; `name` is the tool's
    name on a tool result; `usage` holds usage and timings; `meta` holds anything else
    (e.g. {"compacted": True}, {"summary": True}, {"error": "..."}).
    """

    id: int
    conversation_id: int
    seq: int
    role: str
    content: str = ""
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    status: str = "complete"
    usage: dict[str, Any] | None = None
    created_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shown_status(self) -> str:
        """The status as the TUI, `history show` and the export name it: "stopped", not "cancelled"
        ("stopped: repeating answer" when glmchat stopped it and said why in meta["stop_reason"])."""
        reason = self.meta.get("stop_reason") if self.status == "cancelled" else None
        if isinstance(reason, str) and reason:
            return f"stopped: {reason}"
        return SHOWN_STATUS.get(self.status, self.status)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_chat(self) -> dict[str, Any]:
        """This message in Hugging Face chat form, as the GLM chat template reads it."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.reasoning:
            out["reasoning_content"] = self.reasoning
        if self.tool_calls:
            out["tool_calls"] = [
                {"type": "function", "id": tc.get("id"), "function": {"name": tc["name"], "arguments": tc.get("arguments") or {}}}
                for tc in self.tool_calls
            ]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        if self.name and self.role == "tool":
            out["name"] = self.name
        return out


@dataclass
class SearchHit:
    """One full-text search result: where the words were found and a short excerpt around them."""

    conversation_id: int
    conversation_title: str
    message_id: int
    seq: int
    role: str
    snippet: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_tool_calls(calls: Any) -> list[dict[str, Any]] | None:
    """Check and copy tool calls into the stored shape; accepts the OpenAI {"function": {...}} form too."""
    if calls is None:
        return None
    if not isinstance(calls, (list, tuple)):
        raise ValueError("tool_calls must be a list")
    out = []
    for tc in calls:
        if not isinstance(tc, dict):
            raise ValueError("each tool call must be a mapping")
        fn = tc.get("function") if isinstance(tc.get("function"), dict) else tc
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a tool call needs a name")
        args = fn.get("arguments") or {}
        if isinstance(args, str):
            import json

            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {"_raw": args}
        if not isinstance(args, dict):
            raise ValueError("tool call arguments must be a mapping")
        call_id = tc.get("id")
        out.append({"id": str(call_id) if call_id is not None else None, "name": name, "arguments": args})
    return out
