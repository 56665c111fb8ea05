"""Messages that chat widgets post up to the screen: copy this text, attach this output."""

from __future__ import annotations

from textual.message import Message


class Copy(Message):
    """A widget asks the app to copy `text` to the clipboard."""

    def __init__(self, text: str, what: str) -> None:
        super().__init__()
        self.text = text
        self.what = what


class AttachRequested(Message):
    """The user asks to attach `text` (labelled `label`) to the next message."""

    def __init__(self, label: str, text: str) -> None:
        super().__init__()
        self.label = label
        self.text = text
