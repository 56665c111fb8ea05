"""An informational line in the chat log."""

from __future__ import annotations

from textual.widgets import Static


class NoticeBlock(Static):
    """An informational line in the log (context notices, command output)."""

    def __init__(self, text: str, level: str = "info", **kw) -> None:
        super().__init__(text, markup=False, **kw)
        self.add_class(f"-{level}")
        self.text = text
