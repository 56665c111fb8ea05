"""The slash-command popup that filters as you type."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from glmchat.tui import commands


class SlashPopup(OptionList):
    """Matching slash commands with their descriptions; shown while typing '/word'."""

    can_focus = False

    def show_for(self, text: str) -> bool:
        """Fill with the commands matching `text`; returns whether anything matches."""
        matches = commands.matching(text.split(" ", 1)[0]) if commands.is_command(text) or text == "/" else []
        self.clear_options()
        if not matches:
            self.display = False
            return False
        self.add_options(
            Option(f"/{c.name} {c.args}".ljust(24) + c.description, id=c.name) for c in matches
        )
        self.highlighted = 0
        self.display = True
        return True

    def chosen(self) -> str | None:
        if not self.display or self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id
