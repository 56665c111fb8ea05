"""The `@` file picker: workspace files ranked fuzzily against what follows the `@` being typed."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from glmchat.terminal_text import visible
from glmchat.workspace_files import rank

MAX_SHOWN = 30


class FilePicker(OptionList):
    """Shown while an `@word` is typed; the input moves it (Up/Down) and takes its choice (Tab/Enter)."""

    can_focus = False

    class FilesWanted(Message):
        """The picker opened without a file list: the screen lists the workspace (on a worker)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.files: list[str] | None = None  # None until the screen hands the list down
        self.query_text = ""
        self._asked = False
        self._matches: list[str] = []

    def set_files(self, files: list[str]) -> None:
        """The workspace's files (relative paths); refilters when the picker is open. A path with
        whitespace is left out: a mention ends at the first space."""
        self.files = [p for p in files if not any(c.isspace() for c in p)]
        if self.display:
            self.show_for(self.query_text)

    def forget_files(self) -> None:
        """The next opening lists the workspace again (files come and go); the old list serves meanwhile."""
        self._asked = False

    def show_for(self, query: str) -> None:
        """Open (or refilter) for the text typed after the `@`."""
        self.query_text = query
        self.clear_options()
        if not self._asked:
            self._asked = True
            self.post_message(self.FilesWanted())
        if self.files is None:
            self.add_option(Option("listing the workspace…", id="", disabled=True))
            self.display = True
            return
        matches = rank(query, self.files, MAX_SHOWN)
        if not matches:
            self.display = False
            return
        self.add_options(Option(Text(visible(p)), id=str(i)) for i, p in enumerate(matches))
        self._matches = matches
        self.highlighted = 0
        self.display = True

    def close(self) -> None:
        self.display = False

    def chosen(self) -> str | None:
        """The highlighted path, or None."""
        if not self.display or self.files is None or self.highlighted is None or self.option_count == 0:
            return None
        option = self.get_option_at_index(self.highlighted)
        return self._matches[int(option.id)] if option.id else None
