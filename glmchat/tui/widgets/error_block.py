"""An error in the chat log: what failed and what to do about it."""

from __future__ import annotations

from textual.widgets import Static

from glmchat.terminal_text import visible


class ErrorBlock(Static):
    """Something failed: the message and what to do about it. Never a traceback."""

    def __init__(self, message: str, hint: str | None = None, **kw) -> None:
        text = f"✖ {message}" + (f"\n  {hint}" if hint else "")
        super().__init__(visible(text), markup=False, **kw)
        self.message = message
        self.hint = hint
