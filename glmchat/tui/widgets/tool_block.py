"""A tool call the model made: name, arguments, and then its result."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from glmchat.terminal_text import visible
from glmchat.tui.widgets.messages import Copy


class ToolBlock(Vertical, can_focus=True):
    """A tool call: name and arguments, then its result (decision, output, diff)."""

    BINDINGS = [Binding("c", "copy", "Copy output")]

    def __init__(self, name: str, arguments: dict, result: tuple[str, bool, str] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.tool_name = name
        self.arguments = arguments
        self.output = ""
        self._stored_result = result  # (output, ok, decision) of a stored call, shown on mount

    def compose(self) -> ComposeResult:
        args = json.dumps(self.arguments, ensure_ascii=False)
        if len(args) > 300:
            args = args[:300] + "…"
        yield Static(visible(f"⚙ {self.tool_name} {args}"), classes="tool-title", markup=False)
        yield Static("waiting…", classes="tool-output", markup=False)

    def on_mount(self) -> None:
        if self._stored_result is not None:
            self.set_result(*self._stored_result)

    def set_result(self, output: str, ok: bool, decision: str, diff: str | None = None) -> None:
        self.output = output
        lines = output.rstrip().splitlines()
        shown = "\n".join(lines[:12]) + (f"\n… {len(lines) - 12} more lines" if len(lines) > 12 else "")
        label = {"deny": "denied", "auto": "ran", "allow_once": "allowed once", "allow_session": "allowed for this session"}.get(
            decision, decision
        )
        head = f"[{label}{'' if ok or decision == 'deny' else ', failed'}]"
        text = f"{head}\n{shown}" if shown else head
        if diff:
            text += "\n" + diff.rstrip()
        self.query_one(".tool-output", Static).update(visible(text))
        self.set_class(not ok, "-failed")
        self.set_class(decision == "deny", "-denied")

    def action_copy(self) -> None:
        self.post_message(Copy(self.output, "tool output"))
