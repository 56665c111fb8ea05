"""Approve one tool call: tool, arguments and a preview (a diff for edits). a / s / w / d.

w, "Always allow": shows the permission rule that would be written to config.toml (`suggestion`,
from glmchat.config_rules), lets the user edit it, and dismisses with ("allow_always", pattern); the
turn runner writes it. Without a suggestion (a command with shell operators) the option is off.
"""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from glmchat.terminal_text import visible


class ApprovalScreen(ModalScreen["tuple[str, str | None]"]):
    """Dismisses with (decision, message): allow_once | allow_session | deny, or ("allow_always", pattern)."""

    BINDINGS = [
        Binding("a", "decide('allow_once')", "Allow once"),
        Binding("s", "decide('allow_session')", "Allow for session"),
        Binding("w", "always_allow", "Always allow (a rule in config.toml)"),
        Binding("d", "decide('deny')", "Deny"),
        Binding("m", "focus_message", "Deny with a message"),
        Binding("escape", "escape_deny", "Deny", show=False),
    ]

    def __init__(self, tool: str, arguments: dict, risk: str, preview: str, suggestion: str | None = None) -> None:
        super().__init__()
        self.suggestion = suggestion  # the allow pattern "Always allow" proposes; None: not offered
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
                yield Button("Once (a)", id="allow_once", variant="success")
                yield Button("Session (s)", id="allow_session", variant="primary")
                yield Button("Always (w)", id="allow_always", variant="primary", disabled=self.suggestion is None,
                             tooltip="Allow calls like this from now on: a rule in config.toml [tools.rules]")
                yield Button("Deny (d)", id="deny", variant="error")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # letters typed into the message box are text, not decisions
        if action in ("decide", "focus_message", "always_allow") and isinstance(self.focused, Input):
            return False
        return True

    def action_focus_message(self) -> None:
        self.query_one("#deny-message", Input).focus()

    def action_escape_deny(self) -> None:
        self.action_decide("deny")

    def on_mount(self) -> None:
        self.query_one("#allow_once", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "allow_always":
            self.action_always_allow()
        else:
            self.action_decide(event.button.id or "deny")

    def action_always_allow(self) -> None:
        """Show the rule to be written, editable; Enter saves it and allows the call, Esc comes back here."""
        if self.suggestion is None:
            self.notify("No rule can be offered for this call (a command with ; & | or a path outside the workspace).",
                        severity="warning")
            return
        from glmchat.tui.screens.text_prompt import TextPromptScreen

        question = (f"Always allow {self.tool} calls matching this pattern (added to [tools.rules] in your "
                    "config.toml; edit it, Enter saves, Esc goes back):")

        def saved(pattern: str | None) -> None:
            if pattern and pattern.strip():
                self.dismiss(("allow_always", pattern.strip()))

        self.app.push_screen(TextPromptScreen(question, self.suggestion), saved)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_decide("deny")

    def action_decide(self, decision: str) -> None:
        message = self.query_one("#deny-message", Input).value.strip() or None
        self.dismiss((decision, message if decision == "deny" else None))
