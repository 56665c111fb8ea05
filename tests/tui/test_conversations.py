"""Conversations in the TUI: the sidebar (filter, open, rename, delete), reopening with -c or an id, and the
session closed on quit for instant resume."""

from __future__ import annotations

from glmchat.tui.screens.confirm import ConfirmScreen
from glmchat.tui.screens.text_prompt import TextPromptScreen
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.conversation_item import ConversationItem
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import SIZE, errors, make_app, send, wait_for, wait_ready


async def test_sidebar_lists_filters_opens_renames_and_deletes(tmp_path):
    app = make_app(tmp_path, ["</think>answer A", "</think>answer B"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "apples")
        a = app.chat_screen.conversation_id
        await pilot.press("ctrl+n")
        await send(pilot, app, "bananas")
        b = app.chat_screen.conversation_id
        items = list(app.chat_screen.sidebar.query(ConversationItem))
        assert {i.conv.id for i in items} == {a, b}
        assert "apples" in [i.conv.title for i in items]
        # filter: typed letters are text (n / r / d are list keys only outside the box)
        app.chat_screen.sidebar.query_one("#sidebar-filter").focus()
        await pilot.pause()
        await pilot.press("b", "a", "n", "d")
        assert app.chat_screen.sidebar.query_one("#sidebar-filter").value == "band"
        assert not isinstance(app.screen, ConfirmScreen) and app.chat_screen.conversation_id == b
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = "ban"
        await pilot.pause()
        assert app.chat_screen.sidebar.visible_ids() == [b]
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = "app"
        await pilot.pause()
        assert app.chat_screen.sidebar.visible_ids() == [a]
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = ""
        await pilot.pause()
        # open A with Enter on the list
        lv = app.chat_screen.sidebar.query_one("#conversation-list")
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(a)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.conversation_id == a)
        assert [u.text for u in app.chat_screen.chat.query(UserMessage)] == ["apples"]
        assert app.chat_screen.answers() == ["answer A"]
        assert app.chat_screen.session.conversation_id == a and len(app.chat_screen.session.messages) == 2
        # rename
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(a)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one("Input").value = "Fruit talk"
        await pilot.press("enter")
        await pilot.pause()
        assert app.options.history.store.get_conversation(a).title == "Fruit talk"
        # delete, first declining then confirming
        lv = app.chat_screen.sidebar.query_one("#conversation-list")
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(b)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert b in [c.id for c in app.options.history.store.list_conversations()]
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(b)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await pilot.pause()
        assert [c.id for c in app.options.history.store.list_conversations()] == [a]
        assert app.chat_screen.sidebar.visible_ids() == [a]


async def test_continue_last_and_conversation_id_reopen(tmp_path):
    from glmchat.store import Store

    store = Store(tmp_path / "c.db")
    app = make_app(tmp_path, ["thinking hard</think>stored answer"], store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "remember me")
        cid = app.chat_screen.conversation_id
    store2 = Store(tmp_path / "c.db")
    app2 = make_app(tmp_path, ["</think>next"], store=store2, continue_last=True)
    async with app2.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app2)
        assert app2.chat_screen.conversation_id == cid
        assert [u.text for u in app2.chat_screen.chat.query(UserMessage)] == ["remember me"]
        msg = app2.chat_screen.chat.query_one(AssistantMessage)
        assert msg.answer == "stored answer" and msg.thinking and not msg.thinking.expanded
        await send(pilot, app2, "and more")
        assert len(store2.messages(cid)) == 4
    app3 = make_app(tmp_path, store=Store(tmp_path / "c.db"), conversation_id=cid)
    async with app3.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app3)
        assert len(app3.chat_screen.chat.query(UserMessage)) == 2
    app4 = make_app(tmp_path, store=Store(tmp_path / "c.db"), conversation_id=9999)
    async with app4.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app4)
        assert errors(app4), "opening a missing conversation must show an error"


async def test_quitting_closes_the_session_for_instant_resume(tmp_path):
    app = make_app(tmp_path, ["</think>hi"])
    closed: list[int | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hello")
        app.chat_screen.session.close = lambda: closed.append(app.chat_screen.session.conversation_id)
        engine_closed = []
        app.chat_screen.engine.close = lambda: engine_closed.append(True)
        await pilot.press("ctrl+q")
        await pilot.pause()
    app.shutdown()
    assert closed == [app.chat_screen.conversation_id] and engine_closed == [True]


async def test_sidebar_keys_panel_names_d_for_delete_as_readme_does(tmp_path):
    from io import StringIO
    from pathlib import Path

    from rich.console import Console
    from textual.widgets._key_panel import BindingsTable

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "d deletes" in readme
    app = make_app(tmp_path, ["</think>a", "</think>b"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "keep")
        await pilot.press("ctrl+n")
        await send(pilot, app, "drop")
        lv = app.chat_screen.sidebar.query_one("#conversation-list")
        lv.focus()
        await pilot.pause()
        app.action_show_help_panel()
        await pilot.pause()
        console = Console(file=StringIO(), width=60)
        console.print(app.screen.query_one(BindingsTable).render_bindings_table())
        panel = [line.split() for line in console.file.getvalue().splitlines() if "Delete" in line]
        assert panel == [["d", "Delete"]], panel
        # both d and the Delete key still ask to delete the highlighted conversation
        for key in ("d", "delete"):
            lv.focus()
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
