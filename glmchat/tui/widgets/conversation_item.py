"""One conversation in the sidebar's list: title and relative time."""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Label, ListItem

from glmchat.terminal_text import visible


def relative_time(then: float, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 d ago', or a date."""
    d = max(0.0, now - then)
    if d < 60:
        return "just now"
    if d < 3600:
        return f"{int(d // 60)} min ago"
    if d < 86400:
        return f"{int(d // 3600)} h ago"
    if d < 2 * 86400:
        return "yesterday"
    if d < 30 * 86400:
        return f"{int(d // 86400)} d ago"
    return time.strftime("%Y-%m-%d", time.localtime(then))


def display_title(conv: Any) -> str:
    return (getattr(conv, "title", "") or "").strip() or "Untitled"


class ConversationItem(ListItem):
    def __init__(self, conv: Any, now: float) -> None:
        super().__init__(classes="conversation")
        self.conv = conv
        self.now = now

    def compose(self) -> ComposeResult:
        when = getattr(self.conv, "last_activity", 0) or getattr(self.conv, "updated_at", 0)
        yield Label(visible(display_title(self.conv)), classes="conv-title", markup=False)
        yield Label(relative_time(when, self.now), classes="conv-time")
