"""What `ChatSession.send()` (and retry, edit_last, compact) yields: the `SessionEvent` union.

The parser's own events (`Thinking`, `Answer`, `ToolCall`, `IncompleteToolCall`) pass through as
they stream; the session adds the turn's frame (`TurnStarted`, `TurnFinished`, `TurnFailed`), the
engine's progress through a long prompt before the first token (`PromptProgressed`), the
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
    "PromptProgressed",
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
class PromptProgressed:
    """The engine has read `done` of the prompt's `total` tokens (`cached` of them reused from the
    KV cache) in `elapsed` seconds; only before the first token of a long prompt."""

    done: int
    total: int
    cached: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Prompt tokens read per second (0.0 before it can tell)."""
        return (self.done - self.cached) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left for the rest of the prompt, or None before a rate is known."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def describe(self, *, compact: bool = False) -> str:
        """'reading the prompt 1,024/4,700 tok · 85 tok/s · ~43 s left' (the rate and time once known);
        `compact` (a status bar): 'prompt 1,024/4,700 · 85 tok/s · ~43 s'."""
        text = f"prompt {self.done:,}/{self.total:,}" if compact else f"reading the prompt {self.done:,}/{self.total:,} tok"
        eta = self.eta
        if eta is not None and self.elapsed >= 0.5:
            text += f" · {self.rate:,.0f} tok/s · ~{eta:,.0f} s" + ("" if compact else " left")
        return text


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
    status: str  # complete | cancelled | error | length | stopped (by the loop guard: a Notice says why)
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
    PromptProgressed,
    Thinking,
    Answer,
    ToolCall,
    IncompleteToolCall,
    ToolResultEvent,
    Notice,
    TurnFinished,
    TurnFailed,
]
