"""The slash-command popup that filters as you type."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from glmchat.terminal_text import visible
from glmchat.tui import commands


class SlashPopup(OptionList):
    """Matching slash commands with their descriptions; shown while typing '/word'."""

    can_focus = False

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.extra: list[commands.SlashCommand] = []  # your own commands (glmchat.tui.custom_slash)
        self.shown_for: str | None = None  # the input text the options were filled for

    def show_for(self, text: str) -> bool:
        """Fill with the commands matching `text`; returns whether anything matches."""
        self.shown_for = text
        matches = commands.matching(text.split(" ", 1)[0], self.extra) if commands.is_command(text) or text == "/" else []
        self.clear_options()
        if not matches:
            self.display = False
            return False
        self.add_options(
            Option(Text(visible(f"/{c.name} {c.args}".ljust(24) + c.description)), id=c.name) for c in matches
        )
        self.highlighted = 0
        self.display = True
        return True

    def chosen(self) -> str | None:
        if not self.display or self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id
