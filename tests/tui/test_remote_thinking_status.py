"""The status bar claims a thinking mode only for a model that thinks: a remote model the server
shows to think says `think on`, one served from a folder called glm-… that does not think says nothing
about thinking, and its answer is in the answer, not the thinking pane."""

from __future__ import annotations

from pathlib import Path

from glmchat.engine.remote import RemoteEngine
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks
from tests.tui_support import make_app, send, wait_ready

GLM_TEMPLATE = (Path(__file__).parents[1] / "fixtures" / "glm47_chat_template.jinja").read_text()


async def test_a_remote_model_that_does_not_think_shows_no_thinking_mode(tmp_path):
    models = [{"id": "/models/glm-stuff/SmolLM2.gguf", "object": "model", "owned_by": "me"}]
    with ScriptedServer(models=models) as s:
        s.reply(SSE(vllm_chunks(content=["Hello! ", "How can I help?"], model="x")))
        app = make_app(tmp_path, engine=RemoteEngine(s.base_url))
        async with app.run_test(size=(160, 36)) as pilot:
            await wait_ready(pilot, app)
            assert app.chat_screen.session.thinking == "on"  # the conversation's setting
            assert "think" not in str(app.chat_screen.status.status_text())
            await send(pilot, app, "hi")
            msg = app.chat_screen.chat.answers()[-1]
            assert msg.answer == "Hello! How can I help?" and msg.thinking is None
            assert "think" not in str(app.chat_screen.status.status_text())


async def test_a_remote_model_whose_template_thinks_shows_think_on(tmp_path):
    models = [{"id": "/srv/model.gguf", "object": "model", "owned_by": "llamacpp"}]
    with ScriptedServer(models=models, props={"chat_template": GLM_TEMPLATE}) as s:
        s.reply(SSE(vllm_chunks(content=["Weighing.</think>", "Hi."], model="x")))
        app = make_app(tmp_path, engine=RemoteEngine(s.base_url))
        async with app.run_test(size=(160, 36)) as pilot:
            await wait_ready(pilot, app)
            await send(pilot, app, "hi")
            assert "think on" in str(app.chat_screen.status.status_text())
            msg = app.chat_screen.chat.answers()[-1]
            assert msg.answer == "Hi." and msg.thinking is not None and msg.thinking.text.strip() == "Weighing."
