"""/context (what the next request holds, by part, in tokens; /context full: the whole system prompt)
and /init (a turn asking the model to write the workspace's AGENTS.md)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat.context_report import context_report, report_text
from glmchat.errors import GlmchatError, UsageError
from glmchat.tui.screens.text_view import TextViewScreen

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

INIT_PROMPT = (
    "Write an AGENTS.md file at the root of this workspace for coding agents that will work on this project. "
    "First look around: read the README and the build and test configuration, list the main folders, and look at "
    "a few source files. Then write AGENTS.md (short, under about 80 lines) with: what the project is, how to "
    "build it, how to run its tests (the whole suite and a single test), the code layout, the code style and "
    "conventions you see, and anything an agent must not do. If an AGENTS.md already exists, improve it "
    "instead of starting over. Write only what you have checked in the files."
)


async def context(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if args and args[0].lower() not in ("full",):
        raise UsageError(f"/context takes no argument but full, not {args[0]!r}.", "/context full shows the whole system prompt.")
    session = screen.need_session()
    report = await asyncio.to_thread(context_report, session)
    if args:
        if not report.system_prompt:
            await screen.show_notice("No system prompt: tools are off, there is no AGENTS.md and no /system text.")
            return
        screen.app.push_screen(TextViewScreen("The system prompt of the next request", report.system_prompt))
        return
    await screen.show_notice(report_text(report))


async def init(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.need_session()
    if not session.tools_enabled:
        raise GlmchatError(
            "/init needs tools: the model writes AGENTS.md with write_file.",
            "Turn them on with /tools on (or start glmchat with --tools), then /init again.",
        )
    await screen.send(INIT_PROMPT)
