"""The TUI shows why the loop guard stopped an answer, and the stopped answer stays."""

from __future__ import annotations

from glmchat.loop_guard import ANSWER_STOP
from glmchat.tui.widgets.assistant_message import AssistantMessage
from tests.tui_support import SIZE, make_app, notices, send, wait_ready

LOOPING = "Plan it.</think>Plan:\n\n" + "- read the notes again and summarise them\n" * 200


async def test_a_repeating_answer_stops_with_a_notice(tmp_path):
    app = make_app(tmp_path, [LOOPING])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "plan")
        assert ANSWER_STOP in notices(app)
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        assert msg.answer.startswith("Plan:") and msg.answer.count("- read the notes") < 40
        mark = str(msg.query_one(".message-mark").render())
        assert "Stopped" in mark and "loop guard" in mark  # the message itself says it was stopped, live
