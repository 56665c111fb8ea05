"""The /rewind question: rewind the conversation only, also restore the files tools changed, or cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from glmchat.terminal_text import visible

CONVERSATION = "conversation"
FILES = "files"


class RewindConfirmScreen(ModalScreen["str | None"]):
    """Dismisses with "conversation", "files" (also restore files) or None. `y` / `f` / `n` / Esc."""

    BINDINGS = [
        Binding("y", "answer('conversation')", "Rewind"),
        Binding("f", "answer('files')", "Rewind and restore files"),
        Binding("n,escape", "answer('')", "Cancel"),
    ]

    def __init__(self, question: str, files: int) -> None:
        super().__init__()
        self.question = question
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(visible(self.question), markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Rewind (y)", id=CONVERSATION, variant="error")
                if self.files:
                    yield Button("Also restore files (f)", id=FILES, variant="warning")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or "")

    def action_answer(self, choice: str) -> None:
        if choice == FILES and not self.files:
            return
        self.dismiss(choice if choice in (CONVERSATION, FILES) else None)
