"""The chat pane: a scrolling log that follows new content and shows stored conversations, the
last screens first and older messages as the user scrolls up."""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.layout import DockArrangeResult
from textual.widget import Widget

from glmchat.tui.transcript import Entry, transcript_entries
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.user_message import UserMessage
from glmchat.tui.widgets.welcome import Welcome

SCREENS_FIRST = 1  # a stored conversation opens with about a screen of its tail (more follows, batch by batch)
SCREENS_KEPT = 3  # back at the end, stored messages more than about this many screens up are unmounted
BATCH_SCREENS = 1  # older messages come in batches of about a screen …
BATCH_MOST = 8  # … of at most this many widgets (one long answer's Markdown can take ~0.1 s to mount)
BATCH_GAP = 0.05  # seconds between batches mounted ahead of the user, so keys and scrolling go first


class ChatLog(VerticalScroll):
    """The scrolling log. Follows new content until the user scrolls up; scrolling to the end resumes.

    A stored conversation is kept as entries (`glmchat.tui.transcript`): only its last screens are
    mounted when it opens; while less than a screen of content lies above the view, the next older
    batch is mounted above it and the view kept where it was. Coming back to the end (or sending a
    message there) unmounts stored messages far above the view again: Textual lays out every mounted
    widget on each reflow, so that keeps a turn's cost the same however long the conversation is.
    """

    can_focus = False

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.follow = True
        self.older: list[Entry] = []  # stored entries not mounted, oldest first (a mounted one is its widget's glm_entry)
        self._loading = False  # a batch of older messages is being mounted
        self._generation = 0  # counts clears: a batch asked for before one is dropped
        self._held: tuple[Widget, float] | None = None  # while a batch goes in above: (a widget, its row in the view)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old - 0.5 and new < self.max_scroll_y - 1:
            self.follow = False
        elif new >= self.max_scroll_y - 1:
            if not self.follow:  # back at the end: what was mounted on the way up can go
                self.call_later(self.trim_stored)
            self.follow = True
        if new < old and self.older:
            self._want_older()

    def on_assistant_message_grew(self, event: AssistantMessage.Grew) -> None:
        event.stop()
        self.keep_up()

    def keep_up(self) -> None:
        """Call after adding content: scroll to the end if following."""
        if self.follow:
            self.scroll_end(animate=False, immediate=False)

    async def add(self, widget) -> None:
        await self.drop_welcome()
        if self.follow:
            await self.trim_stored()
        await self.mount(widget)
        self.keep_up()

    async def drop_welcome(self) -> None:
        for w in list(self.query_children(Welcome)):
            await w.remove()

    async def clear(self) -> None:
        """Empty the log, stored entries not mounted included."""
        self.older = []
        self._generation += 1
        await self.remove_children()

    def answers(self) -> list[AssistantMessage]:
        """The mounted answers (see `answer_texts` for the whole conversation's)."""
        return [m for m in self.query_children(AssistantMessage) if m.answer]

    def answer_texts(self) -> list[str]:
        """Every answer as shown, oldest first, including stored ones not mounted yet."""
        return [e.answer for e in self.older if e.answer] + [m.answer for m in self.answers()]

    async def remove_from_last_user(self) -> None:
        """Remove the last user message and everything after it (/edit resends it)."""
        await self._cut_at_last_user(keep_it=False)

    async def remove_after_last_user(self) -> None:
        """Remove what followed the last user message (/retry answers it again)."""
        await self._cut_at_last_user(keep_it=True)

    async def _cut_at_last_user(self, keep_it: bool) -> None:
        children = list(self.children)
        idx = max((i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None)
        if idx is not None:
            await self.remove_children(children[idx + keep_it :])
            return
        j = max((i for i, e in enumerate(self.older) if e.kind == "user"), default=None)
        if j is not None:  # the last user message is above what is mounted
            await self.remove_children(children)
            self.older = self.older[: j + keep_it]
            await self._mount_tail()


    # ---- stored conversations ----------------------------------------------------------------------

    async def show_transcript(self, messages: list[Any]) -> None:
        """Replace the log with a stored conversation (glmchat.store Message rows, oldest first):
        its last screens now, older messages as the user scrolls up."""
        await self.clear()
        self.older = transcript_entries(messages)
        self.follow = True
        await self._mount_tail()

    def _height(self) -> int:
        return self.size.height or self.app.size.height

    def _take_older(self, lines: int, most: int) -> list[Widget]:
        """Widgets for the newest unmounted entries, about `lines` rows of them (at least one)."""
        width = self.size.width or self.app.size.width
        taken: list[Entry] = []
        rows = 0
        while self.older and len(taken) < most and (not taken or rows < lines):
            entry = self.older.pop()
            taken.append(entry)
            rows += entry.lines(width)
        widgets = []
        for entry in reversed(taken):
            w = entry.widget()
            w.glm_entry = entry  # type: ignore[attr-defined]
            widgets.append(w)
        return widgets

    async def _mount_tail(self) -> None:
        widgets = self._take_older(SCREENS_FIRST * self._height(), 1_000_000)
        if widgets:
            await self.mount_all(widgets)
        self.scroll_end(animate=False, immediate=False)
        self.set_timer(BATCH_GAP, self._want_older)

    def _want_older(self) -> None:
        """Mount the next older batch if less than a screen of content lies above the view."""
        if self.older and not self._loading and self.scroll_y < self._height():
            self._loading = True
            self.call_later(self._mount_older, self._generation)

    async def _mount_older(self, generation: int) -> None:
        if generation != self._generation:  # another conversation was opened meanwhile
            self._loading = False
            self.set_timer(BATCH_GAP, self._want_older)
            return
        try:
            widgets = self._take_older(BATCH_SCREENS * self._height(), BATCH_MOST)
            if self.children:
                anchor = self.children[0]
                self._held = (anchor, anchor.virtual_region.y - self.scroll_y)
                await self.mount_all(widgets, before=0)
            else:
                await self.mount_all(widgets)
        except Exception:
            self._held, self._loading = None, False
            raise
        self.call_after_refresh(self._batch_done)

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        """Lay out the children, and scroll in the same pass (before anything is painted): to the end
        while following it, else, while a batch goes in above, so the widget that was at the top of
        the batch's view stays where it was."""
        result = super().arrange(size, optimal)
        y: float | None = None
        if self.follow:
            y = max(0, result.total_region.bottom - size.height)
        elif self._held is not None:
            anchor, row = self._held
            placed = next((p for p in result.placements if p.widget is anchor), None)
            y = max(0.0, placed.region.y - row) if placed is not None else None
        if y is not None and y != self.scroll_y:
            self.set_reactive(VerticalScroll.scroll_y, y)
            self.set_reactive(VerticalScroll.scroll_target_y, y)
            self.vertical_scrollbar._reactive_position = y
        return result

    def _batch_done(self) -> None:
        """A batch is in and laid out: the next may follow (after a pause for keys and scrolling)."""
        self._held, self._loading = None, False
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.set_timer(BATCH_GAP, self._want_older)

    async def trim_stored(self) -> None:
        """Unmount the stored messages far above the view (back into `older`), leaving the last
        screens: called while following the end, so what the user sees does not move."""
        keep = SCREENS_KEPT * self._height()
        children = list(self.children)
        below = 0
        cut = 0
        for i in range(len(children) - 1, -1, -1):
            below += children[i].outer_size.height
            if below > keep:
                cut = i
                break
        drop = []
        for w in children[:cut]:
            if getattr(w, "glm_entry", None) is None:
                break  # only stored messages, and only a run of them from the top, go back
            drop.append(w)
        if len(drop) < BATCH_MOST * 4:
            return
        self.older += [w.glm_entry for w in drop]
        await self.remove_children(drop)
