"""/rewind in the TUI at 80×24: pick a turn, confirm with "also restore files", the chat and files go back."""

from __future__ import annotations

from textual.widgets import Button, Label

from glmchat.engine.scripted import ScriptedEngine
from glmchat.store import Store
from glmchat.tools import ToolRegistry, Workspace
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.pick import PickScreen
from glmchat.tui.screens.rewind_confirm import RewindConfirmScreen
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui.test_dialogs_at_80x24 import assert_whole
from tests.tui_support import make_app, notices, wait_for, wait_ready

SMALL = (80, 24)
WRITE = ("</think><tool_call>write_file<arg_key>path</arg_key><arg_value>app.py</arg_value>"
         "<arg_key>content</arg_key><arg_value>x = 1\n</arg_value></tool_call>")
EDIT = ("</think><tool_call>edit_file<arg_key>path</arg_key><arg_value>app.py</arg_value>"
        "<arg_key>old_string</arg_key><arg_value>x = 1</arg_value><arg_key>new_string</arg_key>"
        "<arg_value>x = 2</arg_value></tool_call>")


async def turn(pilot, app, text: str) -> None:
    before = app.chat_screen.turns.turns_done
    app.chat_screen.prompt.load_text(text)
    app.chat_screen.prompt.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen) or app.chat_screen.turns.turns_done > before)
    if isinstance(app.screen, ApprovalScreen):
        await pilot.press("s")  # allow for this session
    await wait_for(pilot, lambda: app.chat_screen.turns.turns_done > before)
    await pilot.pause()


async def test_rewind_picks_a_turn_confirms_and_restores_the_file(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    engine = ScriptedEngine(scripts=[WRITE, "</think>Wrote it.", EDIT, "</think>Edited it."])
    store = Store(tmp_path / "conversations.db")
    app = make_app(tmp_path, engine=engine, store=store, workspace=Workspace(root), tools=ToolRegistry.builtin())
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.session.enable_tools(True)
        await turn(pilot, app, "write app.py")
        await turn(pilot, app, "make x two")
        assert (root / "app.py").read_text() == "x = 2\n"
        screen = app.chat_screen
        await wait_for(pilot, lambda: not screen.generating)
        screen.prompt.load_text("/rewind")
        screen.prompt.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause()
        labels = [str(o.prompt) for o in app.screen.query_one("#pick-list").options]
        assert len(labels) == 2 and "2." in labels[0] and "make x two" in labels[0] and "write app.py" in labels[1]
        await pilot.press("enter")  # the newest turn: "make x two"
        await wait_for(pilot, lambda: isinstance(app.screen, RewindConfirmScreen))
        await pilot.pause()
        question = str(app.screen.query_one(Label).render())
        assert "4 messages will be deleted" in question and "1 file changed by tools since then: app.py." in question
        assert_whole(app.screen.query_one(Label), question)
        for button in app.screen.query(Button):
            assert_whole(button, str(button.label))
        await pilot.press("f")  # also restore files
        await wait_for(pilot, lambda: any("Rewound" in n for n in notices(app)))
        assert (root / "app.py").read_text() == "x = 1\n"
        assert "Restored 1 file: app.py." in notices(app)[-1]
        assert screen.prompt.text == "make x two"
        assert [str(m.text) for m in screen.chat.query(UserMessage)] == ["write app.py"]
        cid = screen.session.conversation_id
    assert [m.content for m in Store(tmp_path / "conversations.db").messages(cid) if m.role == "user"] == ["write app.py"]


async def test_rewind_cancelled_changes_nothing(tmp_path):
    engine = ScriptedEngine(scripts=["</think>Hi."])
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        await turn(pilot, app, "hello")
        app.chat_screen.prompt.load_text("/rewind")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RewindConfirmScreen))
        assert not app.screen.query("#files")  # no file changed: no "also restore files"
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, RewindConfirmScreen))
        await pilot.pause()
        assert len(app.chat_screen.session.messages) == 2
