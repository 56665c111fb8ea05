"""How `glmchat ask` shows a turn: EventPrinter writes the session's events to stdout and stderr.

The answer streams to stdout; thinking (with --show-thinking), tool calls, tool results, notices and
progress go to stderr. On a terminal the text glmchat did not write has its controls made visible,
and a long prompt's progress is one stderr line rewritten in place (cleared before anything else).
"""

from __future__ import annotations

import json
from typing import Any, Callable, TextIO

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
    TurnStarted,
)
from glmchat.terminal_text import for_stream


class EventPrinter:
    """Writes one turn's session events the way `glmchat ask` shows them, and keeps what --json reports.

    The answer streams to `out`; the thinking (with show_thinking, dimmed on a terminal), tool calls,
    tool results and notices go to `err`. With as_json only notices and incomplete tool calls are
    written while streaming. One handler per event type (`HANDLERS`); other events print nothing.
    Text written to a terminal has its control characters made visible (glmchat.terminal_text), piece
    by piece as it streams; to a pipe or a file it is written unchanged (byte-exact).
    """

    def __init__(self, out: TextIO, err: TextIO, *, show_thinking: bool = False, as_json: bool = False) -> None:
        self.out, self.err = out, err
        self.shown_out, self.shown_err = for_stream(out), for_stream(err)  # visible() on a terminal, else as is
        self.show_thinking, self.as_json = show_thinking, as_json
        self.dim = "\x1b[2m" if err.isatty() else ""
        self.reset = "\x1b[0m" if self.dim else ""
        self.answer_parts: list[str] = []
        self.thinking_parts: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.finished: TurnFinished | None = None
        self.failed: TurnFailed | None = None
        self.thinking_open = False  # thinking was written to err and its line is not ended yet
        self.progress_on_tty = err.isatty() and not as_json  # prompt progress: only to a terminal
        self.progress_open = False  # a prompt-progress line is on err and must be cleared first

    def handle(self, event: SessionEvent) -> None:
        """Write one session event (the handler for its type, or its nearest base class's)."""
        if self.progress_open and not isinstance(event, PromptProgressed):
            self.end_thinking_line()  # the progress line goes before the answer, thinking or a notice
        for cls in type(event).__mro__:
            handler = self.HANDLERS.get(cls)
            if handler is not None:
                handler(self, event)
                return

    def end_thinking_line(self) -> None:
        """The thinking never ended (or a prompt-progress line is up): finish or clear that line
        before anything else goes to stderr."""
        if self.progress_open:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.progress_open = False
        if self.thinking_open:
            self.err.write("\n")
            self.err.flush()
            self.thinking_open = False

    @property
    def answer(self) -> str:
        return "".join(self.answer_parts)

    def _thinking(self, ev: Thinking) -> None:
        self.thinking_parts.append(ev.text)
        if self.show_thinking:
            self.err.write(self.dim + self.shown_err(ev.text) + self.reset)
            self.err.flush()
            self.thinking_open = True

    def _answer(self, ev: Answer) -> None:
        self.answer_parts.append(ev.text)
        if self.thinking_open:
            self.err.write("\n")
            self.thinking_open = False
        if not self.as_json:
            self.out.write(self.shown_out(ev.text))
            self.out.flush()

    def _tool_call(self, ev: ToolCall) -> None:
        self.tool_calls.append({"name": ev.name, "arguments": ev.arguments})
        if not self.as_json:
            self.err.write(self.shown_err(f"\n[tool call] {ev.name} {json.dumps(ev.arguments, ensure_ascii=False)}\n"))

    def _incomplete_tool_call(self, ev: IncompleteToolCall) -> None:
        self.err.write(self.shown_err(f"\n[incomplete tool call, not run] {ev.raw[:200]}\n"))

    def _tool_result(self, ev: ToolResultEvent) -> None:
        if not self.as_json:
            head = ev.output.strip().splitlines()[:1]
            self.err.write(self.shown_err(f"[tool {ev.decision}] {ev.call.name}: {head[0][:120] if head else ''}\n"))

    def _notice(self, ev: Notice) -> None:
        self.err.write(self.shown_err(f"{ev.text}\n"))

    def _prompt_progress(self, ev: PromptProgressed) -> None:
        if self.progress_on_tty:
            if self.thinking_open:
                self.err.write("\n")
                self.thinking_open = False
            self.err.write(f"\r\x1b[K{self.dim}{ev.describe()}{self.reset}")
            self.err.flush()
            self.progress_open = True

    def _turn_finished(self, ev: TurnFinished) -> None:
        self.finished = ev

    def _turn_failed(self, ev: TurnFailed) -> None:
        self.failed = ev

    def _nothing(self, ev: Any) -> None:
        pass

    HANDLERS: dict[type, Callable[[EventPrinter, Any], None]] = {
        Thinking: _thinking,
        Answer: _answer,
        ToolCall: _tool_call,
        IncompleteToolCall: _incomplete_tool_call,
        ToolResultEvent: _tool_result,
        Notice: _notice,
        TurnFinished: _turn_finished,
        TurnFailed: _turn_failed,
        TurnStarted: _nothing,
        PromptProgressed: _prompt_progress,
    }
