"""Hostile text for the terminal-injection tests (issue 14): escape sequences a file, a file name, a
model, a tool or an imported conversation may carry, and checks that what reaches a terminal is inert.

    OSC 52 (ended by ESC \\)  sets the system clipboard (tmux with set-clipboard on: a paste buffer)
    OSC 0  (ended by BEL)   sets the window title
    CSI 2J                  clears the screen
    U+009B                  an 8-bit CSI; U+202E a bidi override (reverses what follows)
"""

from __future__ import annotations

import base64
import re

CLIPBOARD_SECRET = "pwned-clipboard"
OSC52 = "\x1b]52;c;" + base64.b64encode(CLIPBOARD_SECRET.encode()).decode() + "\x1b\\"
TITLE = "\x1b]0;pwned-title\x07"
TITLE_ST = "\x1b]2;pwned-title\x1b\\"
CLEAR = "\x1b[2J"
HOSTILE = OSC52 + TITLE + TITLE_ST + CLEAR
# a valid file name (no '/', no NUL, no ':' so `/read NAME` takes it whole) carrying every sequence
HOSTILE_NAME = f"evil{OSC52}{TITLE}{CLEAR}\u009b1m.txt"
HOSTILE_TEXT = f"needle {HOSTILE} 8-bit \u009b31m csi \u202eesrever\u202c\nsecond line\n"

# what the sequences look like once made visible (glmchat.terminal_text.visible)
SHOWN_OSC52 = "␛]52;c;"
SHOWN_TITLE = "␛]0;pwned-title␇"

# the sequences a Textual app writes itself: SGR styles and cursor moves (CSI … m / H), private modes
_TEXTUAL_CSI = re.compile(r"\x1b\[[0-9;]*[mH]|\x1b\[\?[0-9;]*[hl]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def controls_in(text: str) -> list[str]:
    """Every character in `text` a terminal would act on (newline and tab aside)."""
    return [repr(m.group()) for m in _CONTROL.finditer(text)]


def foreign_controls(terminal_output: str) -> list[str]:
    """The control characters in what a Textual app wrote, once its own styles and moves are removed."""
    return controls_in(_TEXTUAL_CSI.sub("", terminal_output))


def app_terminal_output(app) -> str:
    """What the app writes to the terminal to paint its whole screen now (the same call Textual
    makes in App._display: the compositor's update rendered to the terminal sequence)."""
    return app.screen._compositor.render_full_update().render_segments(app.console)
