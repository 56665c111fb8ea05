"""The conversation sidebar: a filter box and the list of conversations."""

from __future__ import annotations

import time
from typing import Any, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, ListView

from glmchat.tui.widgets.conversation_item import ConversationItem, display_title


class Sidebar(Vertical):
    """Posts Open / Rename / Delete / New; the app does the work and calls `show()` again."""

    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("r", "rename", "Rename"),
        Binding("d", "delete", "Delete"),  # the key README and the keys panel name
        Binding("delete", "delete", "Delete", show=False, system=True),  # works too, not listed
    ]

    class Open(Message):
        def __init__(self, conversation_id: int) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class Rename(Open):
        pass

    class Delete(Open):
        pass

    class New(Message):
        pass

    def __init__(self, clock: Callable[[], float] = time.time, **kw) -> None:
        super().__init__(**kw)
        self.clock = clock
        self.conversations: list[Any] = []
        self.current_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter…", id="sidebar-filter")
        yield ListView(id="conversation-list")

    def show(self, conversations: list[Any], current_id: int | None) -> None:
        self.conversations = list(conversations)
        self.current_id = current_id
        self._fill()

    def _fill(self) -> None:
        needle = self.query_one("#sidebar-filter", Input).value.strip().lower()
        lv = self.query_one("#conversation-list", ListView)
        lv.clear()
        now = self.clock()
        items = [ConversationItem(c, now) for c in self.conversations if not needle or needle in display_title(c).lower()]
        lv.extend(items)
        if items:
            lv.index = 0
        for i, item in enumerate(items):
            if item.conv.id == self.current_id:
                lv.index = i
                item.add_class("-current")

    def visible_ids(self) -> list[int]:
        return [item.conv.id for item in self.query(ConversationItem)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # n / r / d typed into the filter box are text, not commands
        if action in ("new", "rename", "delete") and isinstance(self.screen.focused, Input):
            return False
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#conversation-list", ListView).focus()

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, ConversationItem):
            self.post_message(self.Open(event.item.conv.id))

    def _highlighted(self) -> int | None:
        item = self.query_one("#conversation-list", ListView).highlighted_child
        return item.conv.id if isinstance(item, ConversationItem) else None

    def action_new(self) -> None:
        self.post_message(self.New())

    def action_rename(self) -> None:
        cid = self._highlighted()
        if cid is not None:
            self.post_message(self.Rename(cid))

    def action_delete(self) -> None:
        cid = self._highlighted()
        if cid is not None:
            self.post_message(self.Delete(cid))
