"""`glmchat ask --jsonl`: the session's events as JSON Lines on stdout, one object per line, flushed.

Each line is an object with a "type":
  prompt_progress {done, total, cached}        reading a long prompt (before the first token)
  thinking {text} / answer {text}              deltas, as they stream
  tool_call {name, arguments}                  a complete call the model made
  incomplete_tool_call {raw}                   a call cut off or malformed (never run)
  approval {name, decision}                    how the call was decided: auto, allow_once, allow_session, deny
  tool_result {name, ok, decision, output, diff?}
  notice {text, level}
  usage {prompt_tokens, completion_tokens, ...} at the end of the turn
  error {message, hint}                        the turn failed, or the model could not be opened
  done {status, conversation_id, answer}       always last (status: complete, length, cancelled, error)

The approval line comes with the call's result (a headless run decides without waiting for anyone).
On a terminal each line has its C1, DEL and bidi controls escaped (glmchat.terminal_text.visible_json):
the same JSON value, safe to show. Thinking is reported whatever --show-thinking says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, TextIO

from glmchat.commands.event_printer import EventPrinter
from glmchat.session_events import (
    Answer,
    IncompleteToolCall,
    Notice,
    PromptProgressed,
    SessionEvent,
    Thinking,
    ToolCall,
    ToolResultEvent,
    TurnFailed,
    TurnFinished,
)
from glmchat.terminal_text import is_terminal, visible_json


class JsonlPrinter(EventPrinter):
    """An EventPrinter (it keeps the answer, the calls and how the turn ended, as --json does) that
    writes every event as a JSON line to `out` instead of text; nothing goes to `err`."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        super().__init__(out, err, as_json=True)
        self.on_terminal = is_terminal(out)

    def emit(self, kind: str, **fields: Any) -> None:
        """Write one line {"type": kind, **fields} and flush it."""
        text = json.dumps({"type": kind, **fields}, ensure_ascii=False, default=str)
        self.out.write((visible_json(text) if self.on_terminal else text) + "\n")
        self.out.flush()

    def handle(self, event: SessionEvent) -> None:
        line = self.LINES.get(type(event))
        state = EventPrinter.HANDLERS.get(type(event))
        if state is not None and type(event) not in (Notice, IncompleteToolCall, PromptProgressed):
            state(self, event)  # keep the answer, thinking, calls and the end for `done` (no text written)
        if line is not None:
            line(self, event)

    def end_thinking_line(self) -> None:
        pass  # nothing is written to err

    def done(self, status: str, conversation_id: int | None) -> None:
        """The last line: how the turn ended."""
        self.emit("done", status=status, conversation_id=conversation_id, answer=self.answer)

    def failed_before_the_turn(self, message: str, hint: str | None) -> None:
        """The model could not be opened: an error line, then done with status "error"."""
        self.emit("error", message=message, hint=hint)
        self.done("error", None)

    def _progress(self, ev: PromptProgressed) -> None:
        self.emit("prompt_progress", done=ev.done, total=ev.total, cached=ev.cached)

    def _thinking_line(self, ev: Thinking) -> None:
        self.emit("thinking", text=ev.text)

    def _answer_line(self, ev: Answer) -> None:
        self.emit("answer", text=ev.text)

    def _call_line(self, ev: ToolCall) -> None:
        self.emit("tool_call", name=ev.name, arguments=ev.arguments)

    def _incomplete_line(self, ev: IncompleteToolCall) -> None:
        self.emit("incomplete_tool_call", raw=ev.raw)

    def _result_line(self, ev: ToolResultEvent) -> None:
        self.emit("approval", name=ev.call.name, decision=ev.decision)
        extra = {"diff": ev.diff} if ev.diff else {}
        self.emit("tool_result", name=ev.call.name, ok=ev.ok, decision=ev.decision, output=ev.output, **extra)

    def _notice_line(self, ev: Notice) -> None:
        self.emit("notice", text=ev.text, level=ev.level)

    def _finished_line(self, ev: TurnFinished) -> None:
        self.emit("usage", **ev.usage.to_dict())

    def _failed_line(self, ev: TurnFailed) -> None:
        self.emit("error", message=ev.message, hint=ev.hint)

    LINES: ClassVar[dict[type, Callable[[JsonlPrinter, Any], None]]] = {
        PromptProgressed: _progress,
        Thinking: _thinking_line,
        Answer: _answer_line,
        ToolCall: _call_line,
        IncompleteToolCall: _incomplete_line,
        ToolResultEvent: _result_line,
        Notice: _notice_line,
        TurnFinished: _finished_line,
        TurnFailed: _failed_line,
    }
