"""/mcp: the MCP servers glmchat started ([mcp.servers.NAME]), each with its status and tools;
/mcp reconnect|enable|disable NAME for this run."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat.errors import UsageError
from glmchat.mcp.listing import NONE_CONFIGURED, render, server_rows
from glmchat.mcp.manager import McpManager, running

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

ACTIONS = ("list", "reconnect", "enable", "disable")


async def mcp(screen: ChatScreen, raw: str, args: list[str]) -> None:
    action = args[0].lower() if args else "list"
    if action not in ACTIONS or (action == "list") != (len(args) <= 1) or len(args) > 2:
        raise UsageError(f"/mcp {raw}: not a /mcp command.",
                         "Use /mcp (the servers and their tools), or /mcp reconnect|enable|disable NAME.")
    manager = running()
    if manager is None:
        await screen.show_notice(NONE_CONFIGURED)
        return
    if action != "list":
        await _change(manager, action, args[1])
    text = render(server_rows(manager)).rstrip("\n")  # shown through NoticeBlock, which makes it visible()
    if action == "list" and any(st.status == "ready" for st in manager.states.values()):
        text += "\nTheir tools are offered while tools are on (/tools on)."
    await screen.show_notice(text)


async def _change(manager: McpManager, action: str, name: str) -> None:
    if name not in manager.states:
        known = ", ".join(manager.states) or "none"
        raise UsageError(f"No MCP server named {name!r}.", f"Configured servers: {known}.")
    if action == "disable":
        manager.disable(name)
    else:  # reconnect, enable: started again, waited for off the event loop
        await asyncio.to_thread(manager.restart, name)
