"""An informational line in the chat log."""

from __future__ import annotations

from textual.widgets import Static

from glmchat.terminal_text import visible


class NoticeBlock(Static):
    """An informational line in the log (context notices, command output)."""

    def __init__(self, text: str, level: str = "info", **kw) -> None:
        super().__init__(visible(text), markup=False, **kw)
        self.add_class(f"-{level}")
        self.text = text
