"""The chip bar above the input: what will be attached to the next message."""

from __future__ import annotations

from textual.widgets import Static

from glmchat.terminal_text import visible


def describe_attachment(label: str, text: str) -> str:
    """'README.md (123 lines)' — how an attachment is named in chips and notices."""
    n = len(text.splitlines()) or (1 if text else 0)
    return f"{label} ({n:,} line{'s' if n != 1 else ''})"


class AttachmentBar(Static):
    """Chips above the input naming what will be attached to the next message."""

    def __init__(self, **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.labels: list[str] = []

    def on_mount(self) -> None:
        self.display = False

    def show(self, attachments: list[tuple[str, str]]) -> None:
        self.labels = [describe_attachment(label, text) for label, text in attachments]
        self.display = bool(self.labels)
        if self.labels:
            self.update("📎 " + visible("  ·  ".join(self.labels)) + "   (sent with your next message)")
