"""The TUI on a remote engine: llama-cpp-python's OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.llama_server import _free_port, _server_importable, server  # noqa: F401 (fixture)
from tests.tui_support import make_app, wait_for, wait_ready

pytestmark = pytest.mark.skipif(not _server_importable(), reason="llama-cpp-python's server is not installed")


@pytest.mark.slow
async def test_tui_chats_through_the_server_and_saves_the_turn(server, tmp_path):
    from glmchat.engine.remote import RemoteEngine

    engine = RemoteEngine(server)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_ready(pilot, app)
        assert app.chat_screen.session is not None and app.chat_screen.session.engine.info.backend == "remote"
        app.chat_screen.session.max_tokens = 24
        app.chat_screen.prompt.load_text("Name a colour.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, timeout=120)
        answer = app.chat_screen.answers()[-1]
        assert answer.strip()
        status = str(app.query_one("StatusBar").render())
        assert "remote" in status
        stored = app.options.history.store.messages(app.chat_screen.session.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant"] and stored[1].content == answer


async def test_tui_shows_a_refused_connection_without_a_traceback(tmp_path):
    from glmchat.engine.remote import RemoteEngine

    url = f"http://127.0.0.1:{_free_port()}/v1"

    def factory(progress):
        return RemoteEngine(url)

    app = make_app(tmp_path, factory=factory)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None, timeout=30)
        text = str(app.chat_screen.load_error)
        assert "127.0.0.1" in text and "Traceback" not in text
