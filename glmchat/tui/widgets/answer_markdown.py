"""Markdown for answers: highlighted code blocks that can be focused and copied."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownFence

from glmchat.tui.widgets.messages import Copy


class CopyableFence(MarkdownFence, can_focus=True):
    """A code block that can be focused (Tab or click) and copied with `c`."""

    BINDINGS = [Binding("c", "copy", "Copy code")]

    def action_copy(self) -> None:
        self.post_message(Copy(self.code, "code block"))


class AnswerMarkdown(Markdown):
    """Markdown for answers: highlighted, focusable code blocks."""

    BLOCKS = {**Markdown.BLOCKS, "fence": CopyableFence, "code_block": CopyableFence}
