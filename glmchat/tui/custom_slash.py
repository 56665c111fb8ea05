"""Your own commands (glmchat.custom_commands) in the chat: loaded off the event loop when the chat
starts (and again on /NAME of a name not known yet), turned into rows of the slash table (the
popup, F1 and the parser read them), and run: the file read afresh, its front matter's profile and
tools applied to the session (as /profile and /tools would), then its text sent as your message.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat import custom_commands
from glmchat.custom_commands import CustomCommand
from glmchat.errors import GlmchatError
from glmchat.tui import commands
from glmchat.tui.mcp_prompts import prompt_rows
from glmchat.tui.mention_files import attach_mentions

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


class CustomSlash:
    """One chat screen's own commands, as slash-table rows."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.rows: list[commands.SlashCommand] = []
        self._reported: set[str] = set()  # problems already shown (each once)

    def load(self) -> None:
        """Read the command folders on a worker thread; the rows change when it is done."""
        screen = self.screen
        root = screen.direct.workspace().root

        def read() -> None:
            found = custom_commands.load(root, reserved=commands.BY_NAME)
            try:
                screen.app.call_from_thread(self.loaded, found)
            except RuntimeError:  # the app has gone
                pass

        screen.run_worker(read, thread=True, group="custom-commands")

    async def known(self, text: str) -> None:
        """Before `/name …` runs: a name neither built in nor known yet has the folders read again
        (a command file written since the chat started works at once)."""
        if text.strip().lower().startswith("/mcp__"):  # MCP prompts: servers connect after the chat starts
            self.rows = [r for r in self.rows if not r.name.startswith("mcp__")] + prompt_rows()
        call = custom_commands.invocation(text)
        if call is None or call[0] in commands.BY_NAME or any(r.name == call[0] for r in self.rows):
            return
        root = self.screen.direct.workspace().root
        await self.loaded(await asyncio.to_thread(custom_commands.load, root, None, commands.BY_NAME))

    async def loaded(self, found: custom_commands.CustomCommands) -> None:
        taken = set(found.commands)
        self.rows = [self._row(cmd) for cmd in found.commands.values()] + [r for r in prompt_rows() if r.name not in taken]
        popup = self.screen.query("#slash-popup")
        if popup:
            popup.first().extra = self.rows
        new = [p for p in found.problems if p not in self._reported]
        self._reported.update(new)
        for problem in new:
            await self.screen.show_notice(problem, "warning")

    def _row(self, cmd: CustomCommand) -> commands.SlashCommand:
        async def handler(screen: ChatScreen, raw: str, args: list[str]) -> None:
            await run(screen, cmd, raw)

        return commands.SlashCommand(cmd.name, cmd.args, cmd.description, handler, "custom", raw_args=True)


def _fresh(cmd: CustomCommand) -> CustomCommand:
    """The command as its file reads now (an edit applies without a restart)."""
    try:
        text = custom_commands.read_command_file(cmd.source, follow=cmd.scope == "user")
        return custom_commands.parse(cmd.name, text, cmd.source, cmd.scope)
    except OSError as exc:
        raise GlmchatError(f"/{cmd.name}: cannot read {cmd.source} ({exc.strerror or exc}).", "Check the file, or remove it.") from None
    except GlmchatError as exc:
        raise GlmchatError(f"/{cmd.name}: {cmd.source}: {exc.message}", "Fix the file.") from None


async def run(screen: ChatScreen, cmd: CustomCommand, raw: str) -> None:
    """/NAME ARGS: the front matter's profile and tools applied, then the expanded text sent."""
    screen.need_idle()
    cmd = await asyncio.to_thread(_fresh, cmd)
    text = cmd.expand(raw)
    if cmd.profile is not None or cmd.tools is not None:
        session = screen.need_session()
        if cmd.tools is not None and cmd.tools != bool(session.tools_enabled):
            session.enable_tools(cmd.tools)
            screen.options.tools, screen.options.tools_enabled = session.tools, session.tools_enabled
            await screen.show_notice(f"Tools {'on' if cmd.tools else 'off'} (/{cmd.name} asks for it).")
        if cmd.profile is not None and cmd.profile != session.profile:
            session.set_profile(cmd.profile)
            await screen.show_notice(f"Profile set to {cmd.profile} (/{cmd.name} asks for it).")
        screen.update_session_status()
    if await attach_mentions(screen, raw):  # only what you typed is searched for @files, never the file's text
        await screen.send(text)
