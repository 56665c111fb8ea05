"""The slash commands: one table of name, argument hint, description, handler, and whether the
command needs a loaded model or an idle session; parsing, suggestions, and running one.

The popup, the help screen and the command palette read the table; what a command does lives in
glmchat.tui.chat_commands and glmchat.tui.workspace_commands (`async def name(screen, raw, args)`).
To add a command: write its handler there and add a row here.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from glmchat.errors import GlmchatError, UsageError
from glmchat.tui import chat_commands as chat
from glmchat.tui import context_commands as context
from glmchat.tui import mcp_commands
from glmchat.tui import rewind_commands as rw
from glmchat.tui import workspace_commands as ws

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

Handler = Callable[["ChatScreen", str, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class SlashCommand:
    name: str  # without the slash
    args: str  # argument hint shown in the popup and help, e.g. "[NAME]"
    description: str
    handler: Handler
    group: str = "chat"  # chat | tools
    needs_model: bool = False  # refused (with why) until a model is loaded
    needs_idle: bool = False  # refused while an answer is being generated
    raw_args: bool = False  # the argument is free text, kept verbatim instead of split into words


_MODEL = {"needs_model": True}
_TURN = {"needs_model": True, "needs_idle": True}

COMMANDS: list[SlashCommand] = [
    SlashCommand("help", "", "Show keys and slash commands", chat.help_),
    SlashCommand("new", "", "Start a new conversation", chat.new),
    SlashCommand("clear", "", "Clear the screen and start a new conversation", chat.new),
    SlashCommand("retry", "", "Generate the last answer again", chat.retry, **_TURN),
    SlashCommand("edit", "", "Put the last message back in the input to edit and resend", chat.edit, **_TURN),
    SlashCommand("profile", "[NAME]", "Show or set the sampling profile", chat.profile),
    SlashCommand("think", "on|off|preserve", "Set the thinking mode", chat.think),
    SlashCommand("system", "[TEXT]", "Show the system prompt, set it, or clear it with /system off", chat.system, raw_args=True, **_MODEL),
    SlashCommand("title", "TEXT", "Rename this conversation", chat.title, raw_args=True),
    SlashCommand("export", "[md|json] [PATH]", "Export this conversation to a file", chat.export),
    SlashCommand("copy", "[N]", "Copy the last (or N-th last) answer", chat.copy),
    SlashCommand("theme", "[NAME]", "Show or switch the theme", chat.theme),
    SlashCommand("model", "", "Pick another model (reloads in the background)", chat.model, needs_idle=True),
    SlashCommand("compact", "", "Summarise older turns to free context", chat.compact, **_TURN),
    SlashCommand("context", "[full]", "Show what the next request holds, by part, in tokens (full: the system prompt)", context.context, **_MODEL),
    SlashCommand("init", "", "Ask the model to write an AGENTS.md for this workspace (tools on)", context.init, **_TURN),
    SlashCommand("quit", "", "Quit glmchat", chat.quit_),
    SlashCommand("read", "PATH[:A-B]", "Attach a file (or a line range) to the next message", ws.read, "tools", raw_args=True),
    SlashCommand("run", "CMD", "Run a shell command and offer its output", ws.run, "tools", raw_args=True),
    SlashCommand("py", "CODE", "Run Python code and offer its output", ws.py, "tools", raw_args=True),
    SlashCommand("ls", "[PATH]", "List a directory of the workspace", ws.ls, "tools"),
    SlashCommand("grep", "PATTERN [PATH]", "Search the workspace", ws.grep, "tools", raw_args=True),
    SlashCommand("diff", "", "Attach `git diff` to the next message", ws.diff, "tools"),
    SlashCommand("attach", "", "Attach the last command output (/run, /py, /ls, /grep) to the next message", ws.attach, "tools"),
    SlashCommand("tools", "on|off|list", "Let the model call tools, or list them", ws.tools, "tools", **_MODEL),
    SlashCommand("undo", "", "Undo the last file change made by a tool", ws.undo, "tools", **_MODEL),
    SlashCommand("mcp", "[reconnect|enable|disable NAME]", "List the MCP servers and their tools; restart, enable or disable one", mcp_commands.mcp, "tools"),
    SlashCommand("rewind", "", "Go back to before an earlier message (and restore the files tools changed)", rw.rewind, "tools", **_TURN),
]

BY_NAME: dict[str, SlashCommand] = {c.name: c for c in COMMANDS}


def matching(prefix: str, extra: Sequence[SlashCommand] = ()) -> list[SlashCommand]:
    """Commands whose name starts with `prefix` (with or without the slash), in registry order, then `extra`
    (your own commands, glmchat.tui.custom_slash)."""
    p = prefix.lstrip("/").lower()
    return [c for c in [*COMMANDS, *extra] if c.name.startswith(p)]


def suggest(name: str, n: int = 3) -> list[str]:
    """The closest known command names to a mistyped one."""
    return difflib.get_close_matches(name.lower(), list(BY_NAME), n=n, cutoff=0.5)


def parse(text: str, extra: Sequence[SlashCommand] = ()) -> tuple[SlashCommand, str, list[str]]:
    """'/export md out.md' → (command, raw argument text, split arguments). Raises UsageError."""
    body = text.strip()[1:]
    name, _, rest = body.partition(" ")
    name = name.strip().lower()
    rest = rest.strip()
    cmd = BY_NAME.get(name) or next((c for c in extra if c.name == name), None)
    if cmd is None:
        close = suggest(name)
        hint = ("Did you mean " + " or ".join("/" + s for s in close) + "?") if close else "Type /help to see the commands."
        raise UsageError(f"Unknown command /{name}.", hint)
    if cmd.raw_args:
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


async def run(screen: ChatScreen, text: str) -> None:
    """Parse and run one slash command; failures show inline, never as a traceback."""
    try:
        cmd, raw, args = parse(text, screen.custom_commands.rows)
        if cmd.needs_model:
            screen.need_session()
        if cmd.needs_idle:
            screen.need_idle()
        await cmd.handler(screen, raw, args)
    except GlmchatError as exc:
        await screen.show_error(exc.message, exc.hint)
    except Exception as exc:
        await screen.show_error(f"{text.split()[0]} failed: {exc}.", "Check the arguments (/help).")
