"""A message the user sent, with the attachments that went with it."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Static

from glmchat.terminal_text import visible
from glmchat.tui.widgets.messages import Copy


class UserMessage(Static, can_focus=True):
    """What the user sent. Focus it and press `c` to copy."""

    BINDINGS = [Binding("c", "copy", "Copy")]

    def __init__(self, text: str, attachments: list[str] | None = None, **kw) -> None:
        shown = text + "".join(f"\n📎 {a}" for a in attachments or [])
        super().__init__(visible(shown), markup=False, **kw)
        self.text = text
        self.attachments = list(attachments or [])

    def action_copy(self) -> None:
        self.post_message(Copy(self.text, "message"))
