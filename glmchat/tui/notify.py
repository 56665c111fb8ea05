"""Telling the user, while the terminal is not in front, that a long answer is ready or that an
approval waits: the terminal's own notification where it has one, the bell elsewhere.

Which sequence, by terminal (`TERM_PROGRAM`, `TERM` and the variables terminals set):

- kitty: OSC 99, its desktop-notification protocol (`ESC ] 99 ; ; text ST`);
- iTerm2: OSC 9 (`ESC ] 9 ; text ST`);
- WezTerm, ghostty, foot, rxvt-unicode: OSC 777 (`ESC ] 777 ; notify ; title ; body ST`);
- anything else, and inside tmux or screen (which do not pass these on): BEL. Windows Terminal has no
  notification sequence; its bell flashes the taskbar.

"Not in front" is Textual's `App.app_focus`, which follows the terminal's focus reports (FocusIn /
FocusOut); a terminal that sends none counts as focused, so it is never notified. `[ui] notify =
false` turns all of it off. The text is glmchat's own ("glmchat: answer ready") and the
conversation's title made visible and stripped of every control character, so the model's text can
never end the sequence early or start another one.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from glmchat.terminal_text import visible

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

LONG_ANSWER_S = 10.0  # an answer that took longer than this is worth a notification
MAX_TEXT = 120  # characters of notification text at most
BEL = "\a"
ST = "\x1b\\"


def notification_text(event: str, title: str | None = None) -> str:
    """'glmchat: <event>' plus the title, with nothing a terminal would act on (one line, capped)."""
    text = f"glmchat: {event}"
    if title:
        shown = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in visible(title))
        shown = " ".join(shown.split())
        if shown:
            text += f" — {shown}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def terminal_kind(env: Mapping[str, str]) -> str:
    """'osc99' | 'osc9' | 'osc777' | 'bel' for the terminal `env` describes."""
    program = env.get("TERM_PROGRAM", "")
    term = env.get("TERM", "")
    if env.get("TMUX") or env.get("STY") or program == "tmux" or term.startswith(("tmux", "screen")):
        return "bel"  # a multiplexer keeps OSC sequences to itself; it passes the bell on
    if program == "kitty" or term == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return "osc99"
    if program == "iTerm.app":
        return "osc9"
    if program in ("WezTerm", "ghostty") or term.startswith(("xterm-ghostty", "foot", "rxvt-unicode")):
        return "osc777"
    return "bel"


def notification_sequence(text: str, env: Mapping[str, str]) -> str:
    """The bytes to write for notification `text` (already made safe by `notification_text`)."""
    kind = terminal_kind(env)
    if kind == "osc99":
        return f"\x1b]99;;{text}{ST}"
    if kind == "osc9":
        return f"\x1b]9;{text}{ST}"
    if kind == "osc777":
        return f"\x1b]777;notify;glmchat;{text}{ST}"
    return BEL


def write_to_terminal(app: App, sequence: str) -> None:
    """Write through Textual's driver, as `App.bell` does (nothing when headless, as under tests)."""
    if sequence == BEL:
        app.bell()
        return
    driver = app._driver  # Textual has no public call that writes an escape sequence; bell() uses this
    if driver is not None and not app.is_headless:
        driver.write(sequence)


@dataclass
class Notifier:
    """Decides whether to notify and with what; `emit` writes the sequence to the terminal."""

    enabled: bool
    is_focused: Callable[[], bool]
    emit: Callable[[str], None]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    long_answer_s: float = LONG_ANSWER_S

    def answer_finished(self, seconds: float, title: str | None = None) -> bool:
        """After a turn: notify when it took long and the terminal is not in front. True if it did."""
        if seconds <= self.long_answer_s:
            return False
        return self._notify(notification_text("answer ready", title))

    def approval_waiting(self, title: str | None = None) -> bool:
        """A tool call waits for the user's approval: notify when the terminal is not in front."""
        return self._notify(notification_text("a tool call waits for your approval", title))

    def _notify(self, text: str) -> bool:
        if not self.enabled or self.is_focused():
            return False
        self.emit(notification_sequence(text, self.env))
        return True

    @classmethod
    def for_screen(cls, screen: Screen, enabled: bool) -> Notifier:
        """Notifies through `screen`'s app, looked up at each call (a screen is made before its app runs)."""
        return cls(enabled, is_focused=lambda: bool(screen.app.app_focus), emit=lambda seq: write_to_terminal(screen.app, seq))
