"""Copying: the last answer, the last code block, a focused message or fence, /copy N; nothing to copy yet."""

from __future__ import annotations

from glmchat.tui.widgets.answer_markdown import CopyableFence
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import MIXED, SIZE, make_app, notices, send, wait_ready


async def test_copy_last_answer_code_block_and_focused_message(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "code please")
        answer = app.chat_screen.answers()[-1]
        await pilot.press("ctrl+y")
        assert app.clipboard == answer
        await pilot.press("ctrl+k")
        assert app.clipboard == "def add(a, b):\n    return a + b"
        app.chat_screen.chat.query_one(UserMessage).focus()
        await pilot.press("c")
        assert app.clipboard == "code please"
        app.chat_screen.chat.query_one(CopyableFence).focus()
        app.copy_to_clipboard("")
        await pilot.press("c")
        assert app.clipboard == "def add(a, b):\n    return a + b"
        app.chat_screen.prompt.focus()
        app.chat_screen.prompt.load_text("/copy 1")
        app.copy_to_clipboard("")
        await pilot.press("enter")
        await pilot.pause()
        assert app.clipboard == answer


async def test_copy_with_no_answer_yet(tmp_path):
    from glmchat.tui.widgets.error_block import ErrorBlock

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/copy")
        await pilot.pause()
        assert "Nothing to copy yet." in notices(app)
        assert not app.chat_screen.chat.query(ErrorBlock)
