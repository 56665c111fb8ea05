"""Approve one tool call: tool, arguments and a preview (a diff for edits). a / s / d."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from glmchat.terminal_text import visible


class ApprovalScreen(ModalScreen["tuple[str, str | None]"]):
    """Dismisses with (decision, message): allow_once | allow_session | deny."""

    BINDINGS = [
        Binding("a", "decide('allow_once')", "Allow once"),
        Binding("s", "decide('allow_session')", "Allow for session"),
        Binding("d", "decide('deny')", "Deny"),
        Binding("m", "focus_message", "Deny with a message"),
        Binding("escape", "escape_deny", "Deny", show=False),
    ]

    def __init__(self, tool: str, arguments: dict, risk: str, preview: str) -> None:
        super().__init__()
        self.tool = tool
        self.arguments = arguments
        self.risk = risk
        self.preview = preview

    def compose(self) -> ComposeResult:
        args = json.dumps(self.arguments, ensure_ascii=False, indent=2)
        with Vertical(classes="dialog approval"):
            yield Label(visible(f"The model wants to run {self.tool} ({self.risk})"), classes="approval-title", markup=False)
            with VerticalScroll(classes="approval-body"):
                yield Static(visible(args), classes="approval-args", markup=False)
                if self.preview:
                    yield Static(visible(self.preview), classes="approval-preview", markup=False)
            yield Input(placeholder="m: a message for the model; Enter denies", id="deny-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Allow once (a)", id="allow_once", variant="success")
                yield Button("Allow session (s)", id="allow_session", variant="primary")
                yield Button("Deny (d)", id="deny", variant="error")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # letters typed into the message box are text, not decisions
        if action in ("decide", "focus_message") and isinstance(self.focused, Input):
            return False
        return True

    def action_focus_message(self) -> None:
        self.query_one("#deny-message", Input).focus()

    def action_escape_deny(self) -> None:
        self.action_decide("deny")

    def on_mount(self) -> None:
        self.query_one("#allow_once", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_decide(event.button.id or "deny")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_decide("deny")

    def action_decide(self, decision: str) -> None:
        message = self.query_one("#deny-message", Input).value.strip() or None
        self.dismiss((decision, message if decision == "deny" else None))
