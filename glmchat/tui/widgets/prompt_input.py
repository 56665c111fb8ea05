"""The input: a multi-line TextArea (Enter sends, Shift+Enter / Ctrl+J newline, Up/Down history).

Typing `/word` at the start opens the slash popup; typing `@word` (at the start or after a space)
opens the file picker. While either is open, Up/Down move in it, Tab (or Enter) takes its choice and
Esc closes it.
"""

from __future__ import annotations

import re

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from glmchat.terminal_text import visible
from glmchat.tui.widgets.file_picker import FilePicker
from glmchat.tui.widgets.slash_popup import SlashPopup

MENTION_AT_CURSOR = re.compile(r"(?<![^\s(\[{\"'`])@(\S*)$")  # the rule of glmchat.mentions


class PromptInput(TextArea):
    """Multi-line prompt. Posts `Submitted` on Enter and `CancelRequested` on Esc."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class CancelRequested(Message):
        pass

    def __init__(self, **kw) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kw)
        self.prompt_history: list[str] = []
        self._recall: int | None = None  # index into history while recalling
        self.popup: SlashPopup | None = None
        self.picker: FilePicker | None = None
        self._mention_start: tuple[int, int] | None = None  # where the "@" being completed is

    # ---- text from outside: a paste, a stored message (/edit) -------------------------------------
    # The editor shows what it holds, and sends what it shows: control characters made visible.

    def load_text(self, text: str) -> None:
        super().load_text(visible(text))

    async def _on_paste(self, event: events.Paste) -> None:
        event.text = visible(event.text)
        await super()._on_paste(event)

    # ---- history ---------------------------------------------------------------------------------

    def remember(self, text: str) -> None:
        if text.strip() and (not self.prompt_history or self.prompt_history[-1] != text):
            self.prompt_history.append(text)
        self._recall = None

    def _recalling(self) -> bool:
        return self._recall is not None and self.text == self.prompt_history[self._recall]

    def _set(self, text: str) -> None:
        if self.popup is not None:
            self.popup.display = False  # a recalled command is walked past, not completed
        if self.picker is not None:
            self.picker.close()
        self.load_text(text)
        self.move_cursor(self.document.end)

    def recall(self, step: int) -> bool:
        """Up (-1) / Down (+1) through earlier prompts; only when empty or showing a recalled one."""
        if not self.prompt_history or not (self.text == "" or self._recalling()):
            return False
        if self._recall is None:
            if step > 0:
                return False
            self._recall = len(self.prompt_history) - 1
        else:
            nxt = self._recall + step
            if nxt >= len(self.prompt_history):
                self._recall = None
                self._set("")
                return True
            self._recall = max(0, nxt)
        self._set(self.prompt_history[self._recall])
        return True

    # ---- keys ------------------------------------------------------------------------------------

    def _picker_key(self, key: str) -> bool:
        """Keys while the file picker is open; True when the key was the picker's."""
        picker = self.picker
        if picker is None or not picker.display:
            return False
        if key in ("tab", "enter"):
            path = picker.chosen()
            if path is None:
                return key == "tab"
            self.insert_mention(path)
        elif key == "escape":
            picker.close()
        elif key in ("up", "down"):
            picker.action_cursor_up() if key == "up" else picker.action_cursor_down()
        else:
            return False
        return True

    def insert_mention(self, path: str) -> None:
        """Replace the `@word` being typed with `@path ` and close the picker."""
        end = self.cursor_location
        start = self._mention_start or end
        result = self.replace(f"@{path} ", start, end)
        self.move_cursor(result.end_location)
        if self.picker is not None:
            self.picker.close()

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if self._picker_key(key):
            event.stop()
            event.prevent_default()
            return
        popup = self.popup if self.popup is not None and self.popup.display else None
        handled = True
        if key == "enter":
            if popup and popup.shown_for != self.text and self._bare_command(self.text):
                popup.show_for(self.text)  # keys typed faster than the Changed messages: never complete a stale match
            name = popup.chosen() if popup else None
            typed = self.text.strip()[1:].split(" ", 1)[0] if popup else ""
            if name and name != typed and " " not in self.text:
                self._set(f"/{name} ")
            else:
                self._submit()
        elif key in ("shift+enter", "ctrl+j"):
            self.insert("\n")
        elif key == "tab" and popup:
            name = popup.chosen()
            if name:
                self._set(f"/{name} ")
        elif key == "escape":
            if popup:
                popup.display = False
            else:
                self.post_message(self.CancelRequested())
        elif key in ("up", "down") and popup and not self._recalling():
            popup.action_cursor_up() if key == "up" else popup.action_cursor_down()
        elif key == "up" and self.recall(-1):
            pass
        elif key == "down" and self.recall(+1):
            pass
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def _submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        self.remember(text)
        self.clear()
        if self.popup is not None:
            self.popup.display = False
        if self.picker is not None:
            self.picker.close()
        self.post_message(self.Submitted(text))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self.popup is not None:
            text = self.text
            if self._bare_command(text):
                self.popup.show_for(text)
            else:
                self.popup.display = False
        self._follow_mention()

    def _bare_command(self, text: str) -> bool:
        """`/word` alone: what the slash popup completes."""
        return text.startswith("/") and " " not in text and "\n" not in text and not self._recalling()

    def _follow_mention(self) -> None:
        """Open, refilter or close the file picker for the `@word` just before the cursor."""
        if self.picker is None:
            return
        row, col = self.cursor_location
        m = MENTION_AT_CURSOR.search(self.document.get_line(row)[:col])
        if m is None or self._recalling():
            self._mention_start = None
            self.picker.close()
            return
        self._mention_start = (row, col - len(m.group(0)))
        self.picker.show_for(m.group(1))
