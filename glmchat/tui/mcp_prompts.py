"""The MCP servers' prompts as rows of the slash table: `/mcp__<server>__<prompt> args`, the prompt's
text (glmchat.mcp.prompts) sent as your message. glmchat.tui.custom_slash adds them to your own commands."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat.errors import UsageError
from glmchat.mcp.manager import running
from glmchat.mcp.prompts import PromptCommand, prompt_commands, prompt_text
from glmchat.tui.commands import SlashCommand

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


def prompt_rows() -> list[SlashCommand]:
    """The running servers' prompts as slash commands."""
    return [_row(cmd) for cmd in prompt_commands(running())]


def _row(cmd: PromptCommand) -> SlashCommand:
    async def handler(screen: ChatScreen, raw: str, args: list[str]) -> None:
        manager = running()
        if manager is None:
            raise UsageError(f"/{cmd.name}: the MCP servers are not running.", "Restart glmchat.")
        text = await asyncio.to_thread(prompt_text, manager, cmd, args)
        await screen.send(text)

    return SlashCommand(cmd.name, cmd.usage, cmd.description, handler, "custom", needs_model=True, needs_idle=True)
