"""The system clipboard: hand text to the platform's clipboard tool when one is installed.

The TUI also sends OSC 52 to the terminal (Textual's `copy_to_clipboard`); this is for terminals
that ignore it. Runs a short-lived process, so call it off the UI thread.
"""

from __future__ import annotations

import shutil
import subprocess

TOOLS = (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"])


def copy_to_system_clipboard(text: str, timeout: float = 3.0) -> bool:
    """Copy `text` with the first clipboard tool found on PATH; True when one took it."""
    for tool in TOOLS:
        if shutil.which(tool[0]):
            try:
                subprocess.run(tool, input=text.encode(), timeout=timeout, check=False, capture_output=True)
            except (OSError, subprocess.SubprocessError):
                continue
            return True
    return False
