"""The prompt: Enter sends, Shift+Enter and Ctrl+J add lines, Up/Down walk the history, the slash popup,
unknown commands."""

from __future__ import annotations

from glmchat.tui import commands
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import SIZE, errors, make_app, send, wait_for, wait_ready


async def test_enter_sends_shift_enter_and_ctrl_j_insert_newlines(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await pilot.press("a", "shift+enter", "b", "ctrl+j", "c")
        assert app.chat_screen.prompt.text == "a\nb\nc"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert app.chat_screen.prompt.text == ""
        assert app.chat_screen.chat.query_one(UserMessage).text == "a\nb\nc"
        assert app.chat_screen.session.messages[0]["content"] == "a\nb\nc"


async def test_up_down_recall_history_only_when_empty(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "first")
        await send(pilot, app, "second")
        await pilot.press("up")
        assert app.chat_screen.prompt.text == "second"
        await pilot.press("up")
        assert app.chat_screen.prompt.text == "first"
        await pilot.press("down")
        assert app.chat_screen.prompt.text == "second"
        await pilot.press("down")
        assert app.chat_screen.prompt.text == ""
        await pilot.press("x", "up")
        assert app.chat_screen.prompt.text == "x"  # not empty: Up moves the cursor, no recall


async def test_up_down_keep_walking_history_through_commands_and_multiline_prompts(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "first")
        await send(pilot, app, "two\nlines")
        for command in ("/think on", "/new"):
            app.chat_screen.prompt.load_text(command)
            await pilot.press("enter")
            await pilot.pause()
        await send(pilot, app, "last")
        seen = []
        for key in ["up"] * 6 + ["down"] * 6:
            await pilot.press(key)
            seen.append(app.chat_screen.prompt.text)
        newest_first = ["last", "/new", "/think on", "two\nlines", "first"]
        assert seen[:6] == newest_first + ["first"]
        assert seen[6:] == ["two\nlines", "/think on", "/new", "last", "", ""]
        popup = app.query_one("#slash-popup")
        assert not popup.display
        # once the recalled text is edited, Up/Down move the cursor again
        await pilot.press("up", "up")
        assert app.chat_screen.prompt.text == "/new"
        await pilot.press("x")
        await pilot.press("up")
        assert app.chat_screen.prompt.text == "/newx"


async def test_slash_popup_filters_and_tab_completes(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        popup = app.query_one("#slash-popup")
        await pilot.press("/")
        assert popup.display and popup.option_count == len(commands.COMMANDS)
        await pilot.press("t", "h")
        ids = [popup.get_option_at_index(i).id for i in range(popup.option_count)]
        assert ids == ["think", "theme"]
        assert "thinking mode" in str(popup.get_option_at_index(0).prompt)
        await pilot.press("down", "tab")
        assert app.chat_screen.prompt.text == "/theme "
        assert not popup.display
        await pilot.press("ctrl+a")
        app.chat_screen.prompt.load_text("/ne")
        await pilot.pause()
        assert popup.display
        await pilot.press("escape")
        assert not popup.display


async def test_unknown_command_suggests_closest(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/thnk on")
        await pilot.press("enter")
        await pilot.pause()
        err = errors(app)[-1]
        assert err.message == "Unknown command /thnk." and "/think" in err.hint
