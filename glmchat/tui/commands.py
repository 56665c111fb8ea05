"""The slash-command registry: names, argument hints, descriptions, parsing and suggestions.

The TUI looks commands up here to fill the popup, the help screen and the command palette, and to
parse what the user typed. What a command *does* lives in the app (`GlmchatApp.slash_<name>`).
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass

from glmchat.errors import UsageError


@dataclass(frozen=True)
class SlashCommand:
    name: str  # without the slash
    args: str  # argument hint shown in the popup and help, e.g. "[NAME]"
    description: str
    group: str = "chat"  # chat | tools


COMMANDS: list[SlashCommand] = [
    SlashCommand("help", "", "Show keys and slash commands"),
    SlashCommand("new", "", "Start a new conversation"),
    SlashCommand("clear", "", "Clear the screen and start a new conversation"),
    SlashCommand("retry", "", "Generate the last answer again"),
    SlashCommand("edit", "", "Put the last message back in the input to edit and resend"),
    SlashCommand("profile", "[NAME]", "Show or set the sampling profile"),
    SlashCommand("think", "on|off|preserve", "Set the thinking mode"),
    SlashCommand("system", "[TEXT]", "Show the system prompt, set it, or clear it with /system off"),
    SlashCommand("title", "TEXT", "Rename this conversation"),
    SlashCommand("export", "[md|json] [PATH]", "Export this conversation to a file"),
    SlashCommand("copy", "[N]", "Copy the last (or N-th last) answer"),
    SlashCommand("theme", "[NAME]", "Show or switch the theme"),
    SlashCommand("model", "", "Pick another model (reloads in the background)"),
    SlashCommand("compact", "", "Summarise older turns to free context"),
    SlashCommand("quit", "", "Quit glmchat"),
    SlashCommand("read", "PATH[:A-B]", "Attach a file (or a line range) to the next message", "tools"),
    SlashCommand("run", "CMD", "Run a shell command and offer its output", "tools"),
    SlashCommand("py", "CODE", "Run Python code and offer its output", "tools"),
    SlashCommand("ls", "[PATH]", "List a directory of the workspace", "tools"),
    SlashCommand("grep", "PATTERN [PATH]", "Search the workspace", "tools"),
    SlashCommand("diff", "", "Attach `git diff` to the next message", "tools"),
    SlashCommand("attach", "", "Attach the last command output (/run, /py, /ls, /grep) to the next message", "tools"),
    SlashCommand("tools", "on|off|list", "Let the model call tools, or list them", "tools"),
    SlashCommand("undo", "", "Undo the last file change made by a tool", "tools"),
]

BY_NAME: dict[str, SlashCommand] = {c.name: c for c in COMMANDS}

# commands whose argument is free text (kept verbatim instead of split into words)
RAW_ARGS = {"system", "title", "run", "py", "grep", "read"}


def matching(prefix: str) -> list[SlashCommand]:
    """Commands whose name starts with `prefix` (with or without the slash), in registry order."""
    p = prefix.lstrip("/").lower()
    return [c for c in COMMANDS if c.name.startswith(p)]


def suggest(name: str, n: int = 3) -> list[str]:
    """The closest known command names to a mistyped one."""
    return difflib.get_close_matches(name.lower(), list(BY_NAME), n=n, cutoff=0.5)


def parse(text: str) -> tuple[SlashCommand, str, list[str]]:
    """'/export md out.md' → (command, raw argument text, split arguments). Raises UsageError."""
    body = text.strip()[1:]
    name, _, rest = body.partition(" ")
    name = name.strip().lower()
    rest = rest.strip()
    cmd = BY_NAME.get(name)
    if cmd is None:
        close = suggest(name)
        hint = ("Did you mean " + " or ".join("/" + s for s in close) + "?") if close else "Type /help to see the commands."
        raise UsageError(f"Unknown command /{name}.", hint)
    if name in RAW_ARGS:
        return cmd, rest, [rest] if rest else []
    try:
        args = shlex.split(rest)
    except ValueError:
        args = rest.split()
    return cmd, rest, args


def is_command(text: str) -> bool:
    """True for '/word…' (but not for a path like '/usr/bin' typed as a message)."""
    s = text.strip()
    if not s.startswith("/") or s.startswith("//"):
        return False
    first = s[1:].split(" ", 1)[0]
    return "/" not in first and first != ""
