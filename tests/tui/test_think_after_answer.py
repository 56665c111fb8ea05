"""A thought the model opens after its answer began shows in the thinking pane, not the answer."""

from __future__ import annotations

from glmchat.tui.widgets.assistant_message import AssistantMessage
from tests.tui_support import SIZE, make_app, send, wait_ready


async def test_a_further_thought_goes_to_the_thinking_pane_and_the_answer_has_no_tags(tmp_path):
    app = make_app(tmp_path, ["reason</think>Answer <think>again</think> more"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hi")
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        assert msg.thinking is not None and "reason" in msg.thinking.text and "again" in msg.thinking.text
        assert msg.answer == "Answer  more" and "<think>" not in msg.markdown.source
    stored = app.chat_screen.session.store.messages(app.chat_screen.session.conversation_id)
    assert [(m.reasoning, m.content) for m in stored if m.role == "assistant"] == [("reason\n\nagain", "Answer  more")]
