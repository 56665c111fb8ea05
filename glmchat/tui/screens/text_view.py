"""A long text to read (the whole system prompt for /context full): scrollable, Esc closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from glmchat.terminal_text import visible


class TextViewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(visible(f"{self.title_text}  ·  Esc to close"), markup=False, classes="help-title")
            yield Static(visible(self.text), markup=False, id="text-view-body")

    def action_close(self) -> None:
        self.dismiss(None)
