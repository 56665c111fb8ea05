"""A modal that picks one of several items (for example: /model)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from glmchat.terminal_text import visible


class PickScreen(ModalScreen["str | None"]):
    """Pick one item: list of (id, label). Enter picks, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, items: list[tuple[str, str]], empty: str = "Nothing to pick from.") -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        self.empty = empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(visible(self.title_text), markup=False)
            if self.items:  # labels name files: shown with their control characters made visible
                yield OptionList(*(Option(visible(label), id=item_id) for item_id, label in self.items), id="pick-list", markup=False)
            else:
                yield Label(visible(self.empty), markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
