"""The welcome text on an empty chat."""

from __future__ import annotations

from textual.widgets import Static

from glmchat.terminal_text import visible


class Welcome(Static):
    """Shown on an empty chat: which model, and where to find help."""

    def __init__(self, model: str | None = None, **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.set_model(model)

    def set_model(self, model: str | None) -> None:
        self.model = model
        self._show(f"glmchat · {visible(model)}" if model else "glmchat · loading the model…")

    def set_unloaded(self) -> None:
        """Loading failed: no model yet (the error below says why and what to do)."""
        self.model = None
        self._show("glmchat · no model loaded (see below) — /model PATH opens a GGUF file")

    def _show(self, head: str) -> None:
        self.update(
            f"{head}\n\n"
            "Type a message; Enter sends, Shift+Enter or Ctrl+J adds a line.\n"
            "F1 keys · /help commands · Ctrl+P palette · Ctrl+B chats"
        )
