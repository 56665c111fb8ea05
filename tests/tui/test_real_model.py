"""The TUI on the real embedded engine with the small SmolLM2 model: type, send, it streams, it is saved."""

from __future__ import annotations

import pytest

from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import make_app, wait_for

pytestmark = pytest.mark.slow


async def test_real_model_streams_answer_and_saves_it(tmp_path, smollm2_path):
    pytest.importorskip("llama_cpp")
    from glmchat.engine.local import LocalEngine
    from glmchat.settings import load_settings

    settings = load_settings()
    settings.chat.thinking = "off"  # SmolLM2's template has no thinking block
    settings.profiles["general"] = settings.profiles["general"].__class__(temperature=0.0, top_k=1, max_tokens=12, seed=1)
    progress_seen: list[float] = []

    def factory(progress):
        return LocalEngine.load(smollm2_path, n_ctx=1024, progress=lambda f: (progress_seen.append(f), progress(f, f"Loading {f:.0%}")))

    app = make_app(tmp_path, settings=settings, factory=factory)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"What is the capital of France?")
        await wait_for(pilot, lambda: app.chat_screen.session is not None or app.chat_screen.load_error is not None, 120)
        assert app.chat_screen.load_error is None, app.chat_screen.load_error
        assert progress_seen and progress_seen[-1] == pytest.approx(1.0)
        seen_partial = []
        await pilot.press("enter")

        def progressed() -> bool:
            msgs = app.chat_screen.chat.query(AssistantMessage)
            if msgs and app.chat_screen.generating and msgs.first().answer:
                seen_partial.append(msgs.first().answer)
            return app.chat_screen.turns.turns_done == 1

        await wait_for(pilot, progressed, 180, step=0.01)
        assert not app.chat_screen.chat.query(ErrorBlock), [e.message for e in app.chat_screen.chat.query(ErrorBlock)]
        answer = app.chat_screen.answers()[-1]
        assert answer.strip()
        assert app.chat_screen.chat.query_one(UserMessage).text == "What is the capital of France?"
        stored = app.options.history.store.messages(app.chat_screen.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].content.strip() == answer.strip() and stored[1].status == "complete"
        assert stored[1].usage and stored[1].usage["completion_tokens"] > 0
        line = str(app.chat_screen.status.status_text())
        assert "CPU" in line and "tok/s" in line
