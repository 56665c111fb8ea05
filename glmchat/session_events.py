"""What `ChatSession.send()` (and retry, edit_last, compact) yields: the `SessionEvent` union.

The parser's own events (`Thinking`, `Answer`, `ToolCall`, `IncompleteToolCall`) pass through as
they stream; the session adds the turn's frame (`TurnStarted`, `TurnFinished`, `TurnFailed`), the
result of each tool call (`ToolResultEvent`) and `Notice`s. A UI handles each type; nothing else is
ever yielded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from glmchat.engine.base import Usage
from glmchat.glm import Answer, IncompleteToolCall, Thinking, ToolCall

__all__ = [
    "Answer",
    "IncompleteToolCall",
    "Notice",
    "SessionEvent",
    "Thinking",
    "ToolCall",
    "ToolResultEvent",
    "TurnFailed",
    "TurnFinished",
    "TurnStarted",
]


@dataclass
class TurnStarted:
    prompt_tokens: int
    cached_prompt_tokens: int
    round: int = 1  # tool-loop round (1 = the first generation of this turn)


@dataclass
class ToolResultEvent:
    call: ToolCall
    output: str
    ok: bool
    decision: str  # "auto" | "allow_once" | "allow_session" | "deny"
    diff: str | None = None


@dataclass
class Notice:
    text: str
    level: str = "info"  # info | warning


@dataclass
class TurnFinished:
    usage: Usage
    status: str  # complete | cancelled | error | length
    answer: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 1


@dataclass
class TurnFailed:
    message: str
    hint: str | None = None


SessionEvent = Union[
    TurnStarted,
    Thinking,
    Answer,
    ToolCall,
    IncompleteToolCall,
    ToolResultEvent,
    Notice,
    TurnFinished,
    TurnFailed,
]
