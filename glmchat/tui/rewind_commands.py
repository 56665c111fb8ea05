"""/rewind: pick a turn, confirm (the conversation only, or the files too), rewind, show what happened.

The work is glmchat.rewind's (run off the event loop); this module is the dialog flow: the turns in
a PickScreen (newest first), a RewindConfirmScreen saying how many messages go and how many files
tools changed since, then the conversation shown again and the rewound-to message back in the input.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat import rewind as rewinding
from glmchat.errors import GlmchatError
from glmchat.tui.screens.pick import PickScreen
from glmchat.tui.screens.rewind_confirm import FILES, RewindConfirmScreen

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


async def rewind(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.need_session()
    turns = await asyncio.to_thread(rewinding.turns, session)
    if not turns:
        raise GlmchatError("There is nothing to rewind yet.", "Type a message first.")

    async def picked(choice: str | None) -> None:
        if choice is not None:
            await _confirm(screen, int(choice))

    items = [(str(t.index), t.label) for t in reversed(turns)]
    screen.app.push_screen(PickScreen("Rewind to just before which message? (Enter picks, Esc cancels)", items), picked)


async def _confirm(screen: ChatScreen, index: int) -> None:
    session = screen.need_session()
    try:
        removed, files = await asyncio.to_thread(rewinding.preview, session, index)
    except GlmchatError as exc:
        await screen.show_error(exc.message, exc.hint)
        return
    question = f"Rewind: {removed} message{'s' if removed != 1 else ''} will be deleted (this message and all after it)."
    if files:
        question += f"\n{len(files)} file{'s' if len(files) != 1 else ''} changed by tools since then: {', '.join(rewinding.shown(session, f) for f in files[:5])}"
        question += ", …" if len(files) > 5 else "."
        question += "\n“Also restore files” puts them back as they were (a file changed by hand since is skipped)."

    async def answered(choice: str | None) -> None:
        if choice is not None:
            await _run(screen, index, choice == FILES)

    screen.app.push_screen(RewindConfirmScreen(question, len(files)), answered)


async def _run(screen: ChatScreen, index: int, restore_files: bool) -> None:
    session = screen.need_session()
    if screen.generating:
        await screen.show_error("An answer is still being generated.", "Press Esc to stop it, then /rewind again.")
        return
    try:
        result = await asyncio.to_thread(rewinding.rewind, session, index, restore_files)
        rows = await asyncio.to_thread(rewinding.stored_messages, session)
    except GlmchatError as exc:
        await screen.show_error(exc.message, exc.hint)
        return
    if rows or session.conversation_id is not None:
        await screen.chat.show_transcript(rows)
    else:
        await screen.chat.clear()
    skipped = result.files is not None and result.files.skipped
    await screen.show_notice(result.summary(), "warning" if skipped else "info")
    screen.editing = False  # Enter sends it as a new message
    screen.prompt.load_text(result.text)
    screen.prompt.move_cursor(screen.prompt.document.end)
    screen.prompt.focus()
    screen.refresh_context()
