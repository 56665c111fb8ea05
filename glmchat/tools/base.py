"""The types every tool module shares: `Tool`, `ToolResult`, `ToolContext` and the cancel check.

They live apart from the registry so the built-in tools, the process runner and the registry all
import them from here, and none of those modules needs another to be imported first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from glmchat.tools.undo import UndoLog
from glmchat.tools.workspace import ToolError, Workspace

Risk = Literal["read", "write", "execute", "network"]  # network: reaches outside the machine (web_fetch, web_search)
RISKS: tuple[str, ...] = ("read", "write", "execute", "network")

DEFAULT_OUTPUT_CAP = 30_000  # characters handed back to the model per call


@dataclass
class ToolResult:
    """What a tool call produced. `output` goes back to the model; `diff` is for the UI."""

    output: str
    ok: bool
    error: str | None = None
    truncated: bool = False
    diff: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def for_model(self) -> str:
        """The text of the tool message sent back to the model."""
        if self.ok:
            return self.output
        head = f"Error: {self.error or 'the tool failed'}"
        return f"{head}\n{self.output}" if self.output else head


@dataclass
class ToolContext:
    """Where and how a call runs: the workspace, a cancel signal, the undo log, a timeout override."""

    workspace: Workspace
    cancel: Any = None  # threading.Event, glmchat.engine.base.CancelToken, or anything with .cancelled
    undo: UndoLog = field(default_factory=UndoLog)
    timeout: float | None = None  # overrides each tool's default (the [tools] timeout setting)
    deadline: float | None = None  # time.monotonic() value; set per call by ToolRegistry.execute

    @property
    def cancelled(self) -> bool:
        return is_cancelled(self.cancel)

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise ToolError when the call was cancelled or ran out of time (for in-process tools)."""
        if self.cancelled:
            raise ToolError("Cancelled by the user.", "The call was stopped before it finished.")
        left = self.time_left()
        if left is not None and left <= 0:
            raise ToolError("The tool ran out of time.", "Narrow the request (a smaller path or pattern).")


def is_cancelled(cancel: Any) -> bool:
    """True when `cancel` (Event, CancelToken-like or None) has been set."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    flag = getattr(cancel, "cancelled", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    is_set = getattr(cancel, "is_set", None)
    return bool(is_set()) if callable(is_set) else False


@dataclass
class Tool:
    """A tool the model can call: schema for the prompt, risk class for approval, and the code."""

    name: str
    description: str
    parameters: dict[str, Any]
    risk: Risk
    run: Callable[[dict[str, Any], ToolContext], ToolResult]
    timeout: float = 60.0
    output_cap: int = DEFAULT_OUTPUT_CAP

    def schema(self) -> dict[str, Any]:
        """OpenAI-style function schema, as the chat template expects it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }
