"""What goes with the next message (/read, /diff, an output block's attach): kept here until a
session exists (a file attached while the model loads), then in the session; and the chip bar's
token figures: an estimate at once (`~`), the engine's tokenizer's count when it has one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glmchat.engine.base import Tokenizing
from glmchat.tui.widgets.attachment_bar import AttachmentBar, Chip

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

CHARS_PER_TOKEN = 3.5  # English text and code with a large vocabulary; marked `~` on screen


def attachment_text(label: str, text: str) -> str:
    """How an attachment reads in the message (as ChatSession.send puts it)."""
    return f"{label}\n```\n{text.rstrip(chr(10))}\n```"


def estimate_tokens(label: str, text: str) -> int:
    return max(1, round(len(attachment_text(label, text)) / CHARS_PER_TOKEN))


def count_tokens(engine: Any, label: str, text: str) -> int | None:
    """Tokens the attachment takes with `engine`'s tokenizer; None when it has none (remote)."""
    if not isinstance(engine, Tokenizing):
        return None
    return len(engine.tokenize(attachment_text(label, text), add_special=False))


class Attachments:
    """One chat screen's attachments for the next message."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.held: list[tuple[str, str]] = []  # attached before a session existed (while loading)
        self._counted: dict[tuple[str, int, int], int] = {}  # (label, len, hash) → tokens, per engine
        self._counted_for: Any = None  # the engine those counts came from

    @property
    def pending(self) -> list[tuple[str, str]]:
        session = self.screen.session
        return list(session.pending_attachments) if session is not None else list(self.held)

    def add(self, label: str, text: str) -> None:
        session = self.screen.session
        if session is not None:
            session.attach(label, text)
        else:
            self.held.append((label, text))

    def hand_over(self, session: Any) -> None:
        """A session exists now: what was attached while loading goes to it."""
        for label, text in self.held:
            session.attach(label, text)
        self.held.clear()

    def clear_held(self) -> None:
        self.held.clear()

    # ---- the chip bar -----------------------------------------------------------------------------

    def show(self) -> None:
        """Refresh the chip bar: counted figures where known, estimates meanwhile, then count."""
        pending = self.pending
        engine = self.screen.engine
        if engine is not self._counted_for:
            self._counted, self._counted_for = {}, engine
        chips = [self._chip(label, text) for label, text in pending]
        self.bar.show(chips, self._n_ctx())
        if any(c.estimated for c in chips) and isinstance(engine, Tokenizing):
            self.screen.run_worker(lambda: self._count(engine, pending), thread=True, group="attachment-tokens")

    @property
    def bar(self) -> AttachmentBar:
        return self.screen.query_one("#attachments", AttachmentBar)

    def _n_ctx(self) -> int:
        engine = self.screen.engine
        if engine is not None and engine.info.n_ctx:
            return engine.info.n_ctx
        return int(getattr(self.screen.settings.model, "n_ctx", 0) or 0)

    @staticmethod
    def _key(label: str, text: str) -> tuple[str, int, int]:
        return (label, len(text), hash(text))

    def _chip(self, label: str, text: str) -> Chip:
        counted = self._counted.get(self._key(label, text))
        if counted is not None:
            return Chip(label, counted, estimated=False)
        return Chip(label, estimate_tokens(label, text), estimated=True)

    def _count(self, engine: Any, pending: list[tuple[str, str]]) -> None:
        """Worker thread: count with the engine's tokenizer, then refresh the bar on the UI thread."""
        counts: dict[tuple[str, int, int], int] = {}
        try:
            for label, text in pending:
                n = count_tokens(engine, label, text)
                if n is not None:
                    counts[self._key(label, text)] = n
        except Exception:  # the engine was closed meanwhile: the estimates stay
            return
        try:
            self.screen.app.call_from_thread(self._counted_in, engine, counts)
        except RuntimeError:  # the app has gone
            pass

    def _counted_in(self, engine: Any, counts: dict[tuple[str, int, int], int]) -> None:
        if engine is not self.screen.engine or not self.screen.alive():
            return
        self._counted.update(counts)
        self.bar.show([self._chip(label, text) for label, text in self.pending], self._n_ctx())
