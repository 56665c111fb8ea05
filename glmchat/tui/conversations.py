"""Conversations in the TUI: which one is open, opening a stored one, starting a new one, the
sidebar's rename and delete, and titles (/title before the first message, model-written titles).

Everything stored goes through `glmchat.history.History` (the facade `glmchat history` uses too)
or the session; the chat log renders a stored conversation itself (`ChatLog.show_transcript`: the
last screens at once, older messages as the user scrolls up). Loading its rows runs off the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from glmchat.engine.base import CancelToken
from glmchat.errors import GlmchatError
from glmchat.tui.screens.confirm import ConfirmScreen
from glmchat.tui.screens.text_prompt import TextPromptScreen
from glmchat.tui.widgets.welcome import Welcome

if TYPE_CHECKING:
    from glmchat.history import History
    from glmchat.tui.screens.chat import ChatScreen


class Conversations:
    """The open conversation of one chat screen, and the sidebar's list."""

    def __init__(self, screen: ChatScreen, history: History | None, clock: Callable[[], float] = time.time) -> None:
        self.screen = screen
        self.history = history
        self.clock = clock
        self.current_id: int | None = None
        self.pending_title: str | None = None  # /title before the conversation was saved
        self.title_idle = threading.Event()  # clear while the model writes a title
        self.title_idle.set()
        self._title_cancel: CancelToken | None = None

    def _need_history(self) -> History:
        if self.history is None:
            raise GlmchatError("No conversation store is open.", "Run without --no-history.")
        return self.history

    # ---- opening ---------------------------------------------------------------------------------

    async def open_initial(self, cid: int | None, continue_last: bool) -> None:
        if cid is None and continue_last and self.history is not None:
            recent = await asyncio.to_thread(self.history.most_recent)
            cid = recent.id if recent else None
        if cid is None:
            return
        try:
            await self.show(cid)
        except GlmchatError as exc:
            await self.screen.show_error(exc.message, exc.hint)
        except Exception as exc:
            await self.screen.show_error(f"Cannot open conversation {cid}: {exc}.", "Pick another one in the sidebar (Ctrl+B).")

    async def show(self, cid: int) -> None:
        """Render a stored conversation and make it the current one."""
        history = self._need_history()
        screen = self.screen
        messages = await asyncio.to_thread(history.messages, cid)
        self.current_id = cid
        self.pending_title = None
        screen.reset_context_warning()
        await screen.chat.show_transcript(messages)
        if screen.session is not None:
            await asyncio.to_thread(screen.session.load, cid)  # (a KV snapshot may be read from disk)
            screen.update_session_status()
            screen.refresh_context()
        screen.sidebar.current_id = cid

    async def show_welcome(self) -> None:
        """The welcome text on an empty chat (the model's name once it is loaded)."""
        from glmchat.tui.model_loader import model_label

        if not self.screen.chat.children:
            await self.screen.chat.mount(Welcome(model_label(self.screen.engine), id="welcome"))

    async def new(self) -> None:
        screen = self.screen
        if screen.generating:
            screen.notify("Still generating; Esc stops it first.", severity="warning")
            return
        if screen.session is not None:
            await asyncio.to_thread(screen.session.new)  # (snapshots the conversation it leaves)
        screen.show_attachments()
        self.current_id = None
        self.pending_title = None
        screen.reset_context_warning()
        await screen.chat.clear()
        await self.show_welcome()
        self.refresh_sidebar()
        screen.refresh_context()
        screen.prompt.focus()

    async def open_from_sidebar(self, cid: int) -> None:
        screen = self.screen
        if screen.generating:
            screen.notify("Still generating; Esc stops it first.", severity="warning")
            return
        try:
            await self.show(cid)
        except GlmchatError as exc:
            await screen.show_error(exc.message, exc.hint)
        self.refresh_sidebar()
        screen.prompt.focus()

    def refresh_sidebar(self) -> None:
        if self.history is None:
            return
        try:
            convs = self.history.list()
        except Exception:
            return
        self.screen.sidebar.show(convs, self.current_id)

    # ---- rename and delete ---------------------------------------------------------------------

    def _title_of(self, cid: int) -> str:
        return next((c.title for c in self.screen.sidebar.conversations if c.id == cid), "") or ""

    def ask_rename(self, cid: int) -> None:
        def done(title: str | None) -> None:
            if title and title.strip():
                self._need_history().rename(cid, title.strip())
                self.refresh_sidebar()

        self.screen.app.push_screen(TextPromptScreen("New title:", self._title_of(cid)), done)

    def ask_delete(self, cid: int) -> None:
        async def done(yes: bool | None) -> None:
            if not yes:
                return
            self._need_history().delete(cid)
            if cid == self.current_id:
                await self.new()
            self.refresh_sidebar()

        title = self._title_of(cid) or "Untitled"
        self.screen.app.push_screen(ConfirmScreen(f"Delete “{title}”? This cannot be undone.", yes="Delete"), done)

    async def set_title(self, title: str) -> None:
        """/title: rename now, or when the conversation is saved with its first message."""
        if self.history is None:
            raise GlmchatError("History is off, so conversations are not saved and have no titles.", "Run glmchat without --no-history to keep them.")
        if self.current_id is None:  # saved with the first message; the title waits till then
            self.pending_title = title
            await self.screen.show_notice(f"The conversation will be titled “{title}” when it is saved (with your first message).")
            return
        self.history.rename(self.current_id, title)
        self.refresh_sidebar()
        await self.screen.show_notice(f"Renamed to “{title}”.")

    # ---- after a turn: titles --------------------------------------------------------------------

    async def turn_ended(self) -> None:
        session = self.screen.session
        if session is not None:
            self.current_id = session.conversation_id
            if not self._apply_pending_title():
                self._maybe_model_title(session)
        self.refresh_sidebar()

    def _apply_pending_title(self) -> bool:
        """Give the just-saved conversation the title asked for with /title; True when done."""
        title, cid = self.pending_title, self.current_id
        if title is None or cid is None or self.history is None:
            return False
        self.pending_title = None
        try:
            self.history.rename(cid, title)
        except Exception:
            return False
        return True

    def _maybe_model_title(self, session: Any) -> None:
        """With [chat] model_titles on, ask the model for a title after the first exchange (in the
        background; the store already titled the conversation with the first message). The session
        lets the user's next turn go first (it cancels the title)."""
        try:
            wanted = bool(session.wants_model_title())
        except Exception:
            wanted = False
        if not wanted:
            return
        cancel = self._title_cancel = CancelToken()
        self.title_idle.clear()
        self.screen.run_worker(lambda: self._write_title(session, cancel), thread=True, group="title")

    def _write_title(self, session: Any, cancel: CancelToken) -> None:
        try:
            title = session.generate_title(cancel)
        except Exception:
            title = None
        finally:
            self.title_idle.set()
        if title:
            try:
                self.screen.app.call_from_thread(self.refresh_sidebar)
            except RuntimeError:
                pass

    def stop_title(self) -> None:
        if self._title_cancel is not None:
            self._title_cancel.cancel()
