"""The workspace's slash commands: /read /run /py /ls /grep /diff /attach /tools /undo.

Each is `async def name(screen, raw, args)`; the table in glmchat.tui.commands says which need a
loaded model. The work is done by `glmchat.tools.direct`, off the UI thread: commands that run
something or may take a while go through the screen's `DirectRunner` (an output block, Esc stops).
"""

from __future__ import annotations

import asyncio
import shlex
from typing import TYPE_CHECKING

from glmchat.errors import GlmchatError, UsageError
from glmchat.tools import direct
from glmchat.tui.widgets.output_block import OutputBlock

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


async def read(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not raw:
        raise UsageError("/read needs a path.", "Example: /read src/main.py:10-40")
    label, text = await asyncio.to_thread(direct.read_attachment, raw, screen.direct.workspace())
    await screen.direct.attach(label, text)


async def run(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not raw:
        raise UsageError("/run needs a command.", "Example: /run ls -la")
    ws = screen.direct.workspace()
    await screen.direct.start(f"$ {raw}", lambda cancel: direct.run_command(raw, ws, cancel), cancellable=True)


async def py(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not raw:
        raise UsageError("/py needs code.", "Example: /py print(2**10)")
    ws = screen.direct.workspace()
    first = raw.strip().splitlines()[0]
    await screen.direct.start(f"python: {first[:60]}", lambda cancel: direct.run_python(raw, ws, cancel), cancellable=True)


async def ls(screen: ChatScreen, raw: str, args: list[str]) -> None:
    path = args[0] if args else None
    ws = screen.direct.workspace()
    await screen.direct.start(f"ls {path or '.'}", lambda cancel: direct.list_path(path, ws))


async def grep(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not raw:
        raise UsageError("/grep needs a pattern.", "Example: /grep 'def main' src")
    try:
        words = shlex.split(raw)
    except ValueError:
        words = raw.split()
    pattern = words[0] if words else ""
    path = words[1] if len(words) > 1 else None
    ws = screen.direct.workspace()
    await screen.direct.start(f"grep {pattern!r} {path or '.'}", lambda cancel: direct.grep_text(pattern, path, ws, cancel), cancellable=True)


async def diff(screen: ChatScreen, raw: str, args: list[str]) -> None:
    text = await asyncio.to_thread(direct.git_diff, screen.direct.workspace())
    await screen.direct.attach("git diff", text)


async def attach(screen: ChatScreen, raw: str, args: list[str]) -> None:
    blocks = [b for b in screen.chat.query(OutputBlock) if not b.running and b.attachable and b.output.strip()]
    if not blocks:
        raise GlmchatError("There is no command output to attach.", "Run one first: /run CMD, /py CODE, /ls or /grep.")
    block = blocks[-1]
    if block.attached:
        raise GlmchatError(f"The output of {block.label} is already attached.", "Send a message to use it.")
    block.action_attach()


async def tools(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.session
    what = args[0].lower() if args else "list"
    if what in ("on", "off"):
        session.enable_tools(what == "on")
        screen.options.tools, screen.options.tools_enabled = session.tools, session.tools_enabled
        await screen.show_notice(
            "Tools on: the model may read files and, after asking you, write files and run commands."
            if what == "on"
            else "Tools off: the model answers without calling tools."
        )
    elif what == "list":
        registry = session.tool_registry()
        lines = []
        for name in registry.names():
            tool = registry.get(name)
            desc = (tool.description or "").strip().splitlines()[0] if tool and tool.description else ""
            lines.append(f"  {name} ({tool.risk if tool else '?'}): {desc}")
        state = "on" if session.tools_enabled else "off (/tools on lets the model call them)"
        await screen.show_notice(f"Tools are {state}.\n" + "\n".join(lines))
    else:
        raise UsageError(f"/tools does not know {what!r}.", "Use /tools on, /tools off or /tools list.")
    screen.update_session_status()
    screen.refresh_context()


async def undo(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.session
    message = await asyncio.to_thread(lambda: session.ensure_undo_log().undo())
    await screen.show_notice(str(message))
