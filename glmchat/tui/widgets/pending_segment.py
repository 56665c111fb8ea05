"""A placeholder for the pieces of a burst of answer text still waiting for their Markdown render."""

from __future__ import annotations

from textual.widgets import Static


class PendingSegment(Static):
    """Pieces of an answer that arrived in one burst, waiting for their Markdown render (see
    AssistantMessage), which comes a frame at a time, nearest the end first. One widget for the
    whole burst, showing one line: a backlog costs one mount, and laying out the whole burst as
    plain text (tens of milliseconds for a long answer) would delay the frame that shows the end."""

    def __init__(self, pieces: list[tuple[int, str]], **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.pieces = list(pieces)  # (offset in the answer, text) of each future Markdown segment
        self.glm_start = self.pieces[0][0]
        self._show()

    @property
    def source(self) -> str:
        return "".join(text for _, text in self.pieces)

    def _show(self) -> None:
        n = len(self.pieces)
        self.update(f"⋯ rendering {n} more section{'s' if n != 1 else ''} ({len(self.source):,} characters)")

    def pop_last(self) -> tuple[int, str]:
        piece = self.pieces.pop()
        if self.pieces:
            self._show()
        return piece
