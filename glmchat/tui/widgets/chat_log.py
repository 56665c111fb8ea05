"""The chat pane: a scrolling log that follows new content and renders stored conversations."""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll

from glmchat.terminal_text import visible
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.tool_block import ToolBlock
from glmchat.tui.widgets.user_message import UserMessage
from glmchat.tui.widgets.welcome import Welcome


class ChatLog(VerticalScroll):
    """The scrolling log. Follows new content until the user scrolls up; scrolling to the end resumes."""

    can_focus = False

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.follow = True

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old - 0.5 and new < self.max_scroll_y - 1:
            self.follow = False
        elif new >= self.max_scroll_y - 1:
            self.follow = True

    def on_assistant_message_grew(self, event: AssistantMessage.Grew) -> None:
        event.stop()
        self.keep_up()

    def keep_up(self) -> None:
        """Call after adding content: scroll to the end if following."""
        if self.follow:
            self.scroll_end(animate=False, immediate=False)

    async def add(self, widget) -> None:
        await self.drop_welcome()
        await self.mount(widget)
        self.keep_up()

    async def drop_welcome(self) -> None:
        for w in list(self.query(Welcome)):
            await w.remove()

    def answers(self) -> list[AssistantMessage]:
        return [m for m in self.query(AssistantMessage) if m.answer]

    async def remove_from_last_user(self) -> None:
        """Remove the last user message and everything after it (/edit resends it)."""
        children = list(self.children)
        idx = max((i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None)
        if idx is not None:
            await self.remove_children(children[idx:])

    async def remove_after_last_user(self) -> None:
        """Remove what followed the last user message (/retry answers it again)."""
        children = list(self.children)
        idx = max((i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None)
        if idx is not None:
            await self.remove_children(children[idx + 1 :])

    async def show_transcript(self, messages: list[Any]) -> None:
        """Replace the log with a stored conversation (glmchat.store Message rows, oldest first)."""
        await self.remove_children()
        blocks: dict[str, ToolBlock] = {}
        for m in messages:
            meta = m.meta or {}
            if m.role == "system" or meta.get("compacted"):
                continue
            if m.role == "user":
                await self.mount(UserMessage(m.content) if not meta.get("summary") else NoticeBlock(m.content))
            elif m.role == "assistant":
                await self._show_stored_answer(m, blocks)
            elif m.role == "tool":
                block = blocks.get(m.tool_call_id or "")
                if block is not None:
                    block.set_result(m.content, bool(meta.get("ok", True)), meta.get("decision", "auto"))
        self.follow = True
        self.scroll_end(animate=False)

    async def _show_stored_answer(self, m: Any, blocks: dict[str, ToolBlock]) -> None:
        if m.reasoning or m.content:
            msg = AssistantMessage()
            await self.mount(msg)
            if m.reasoning:
                await msg.add_thinking(m.reasoning, 0)
                msg.thinking.finish(0.0)
                msg.thinking.set_expanded(False)
            msg.answer = visible(m.content or "")  # shown, so control characters made visible
            note = {"cancelled": "⏹ Stopped — partial answer", "error": "✖ Failed — partial answer"}.get(m.status)
            await msg.finish(m.status if note else "complete", note)
        for c in m.tool_calls or []:
            block = ToolBlock(c.get("name", "?"), c.get("arguments") or {})
            await self.mount(block)
            if c.get("id"):
                blocks[c["id"]] = block
