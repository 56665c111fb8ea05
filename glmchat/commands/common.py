"""Helpers shared by the commands in glmchat/cli.py and glmchat/commands/ (not a command module itself).

Import-light like the rest of the package's CLI side: only the standard library and glmchat.errors
at module level, so `glmchat --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional

from glmchat.errors import UsageError


def err(text: str) -> None:
    """One line to stderr, flushed (on a terminal with control characters made visible: messages
    name files, models and servers)."""
    from glmchat.terminal_text import for_stream

    sys.stderr.write(for_stream(sys.stderr)(text) + "\n")
    sys.stderr.flush()


def apply_speculative(settings: Any, mode: Optional[str]) -> None:
    """--speculative onto the settings (UsageError for a mode that is not auto/off/ngram/mtp)."""
    if mode is not None:
        from glmchat.engine.speculative import check_mode

        settings.model.speculative = check_mode(mode)


def apply_placement(settings: Any, gpu_layers: Optional[str], cpu_moe: Optional[str]) -> None:
    """--gpu-layers / --cpu-moe onto the settings (validated like config.toml values)."""
    for name, value, words in (("gpu_layers", gpu_layers, ("auto", "all")), ("cpu_moe", cpu_moe, ("all",))):
        if value is None:
            continue
        if value.isdigit():
            setattr(settings.model, name, int(value))
        elif value in words:
            setattr(settings.model, name, value)
        else:
            raise UsageError(f"--{name.replace('_', '-')} {value!r} is not valid.", f"Use a number or {' / '.join(words)}.")


def open_workspace(path: Optional[Path]) -> Any:
    """The tools' Workspace for --workspace (default: the current directory); UsageError if not a directory."""
    from glmchat.tools import Workspace

    root = (path or Path.cwd()).expanduser()
    if not root.is_dir():
        raise UsageError(f"Workspace {root} is not a directory.", "Pass an existing directory to --workspace.")
    return Workspace(root)


def stderr_progress() -> Callable[[float, str], None]:
    """A progress(fraction, text) callback drawing one self-erasing bar line on stderr."""
    state = {"last": -1}

    def progress(fraction: float, text: str) -> None:
        pct = int(fraction * 100)
        if pct == state["last"] and text:
            return
        state["last"] = pct
        if fraction >= 1.0 and not text:
            sys.stderr.write("\r\x1b[K")
        else:
            bar = "█" * (pct // 5) + "·" * (20 - pct // 5)
            sys.stderr.write(f"\r\x1b[K{text} {bar} {pct:3d}%")
        sys.stderr.flush()

    return progress
