"""The model's reasoning: live while it thinks, then one summary line that expands."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from glmchat.terminal_text import visible


class ThinkingPane(Vertical):
    """Live reasoning; collapses to one summary line when the answer starts. Enter/click toggles."""

    can_focus = True
    BINDINGS = [Binding("enter,space", "toggle", "Expand/collapse", show=False)]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.text = ""
        self.tokens = 0
        self.seconds: float | None = None
        self.expanded = True
        self.done = False

    @classmethod
    def collapsed(cls, text: str, seconds: float | None = None, **kw) -> ThinkingPane:
        """A finished thought shown collapsed (a stored answer): its body is rendered only when expanded."""
        pane = cls(**kw)
        pane.text = visible(text)
        pane.seconds, pane.done, pane.expanded = seconds, True, False
        return pane

    def compose(self) -> ComposeResult:
        yield Static("Thinking…", classes="thinking-header", markup=False)
        yield Static("", classes="thinking-body", markup=False)

    def on_mount(self) -> None:
        if self.done:
            self.set_expanded(self.expanded)

    def append(self, text: str, tokens: int) -> None:
        self.text += visible(text)  # what is shown (a stream can be sanitized piece by piece)
        self.tokens += tokens
        if self.expanded:
            self.query_one(".thinking-body", Static).update(self.text.strip("\n"))

    def summary(self) -> str:
        secs = f"{self.seconds:.1f} s" if self.seconds is not None else "?"
        return f"Thought for {secs} · {self.tokens:,} tokens"

    def finish(self, seconds: float, collapse: bool = True) -> None:
        """The answer started (or the turn ended): show the summary line, collapse the body."""
        if self.done:
            return
        self.done = True
        self.seconds = seconds
        self.set_expanded(not collapse)

    def set_expanded(self, expanded: bool) -> None:
        self.expanded = expanded
        body = self.query_one(".thinking-body", Static)
        if expanded:
            body.update(self.text.strip("\n"))
        body.display = expanded
        self.set_class(not expanded, "-collapsed")
        if self.done:
            arrow = "▾" if expanded else "▸"
            self.query_one(".thinking-header", Static).update(f"{arrow} {self.summary()}")

    def action_toggle(self) -> None:
        if self.done:
            self.set_expanded(not self.expanded)

    def on_click(self, event: events.Click) -> None:
        self.action_toggle()
