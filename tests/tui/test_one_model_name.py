"""One name for the model: the status bar, the welcome, the stored conversation (history, export)."""

from __future__ import annotations

import pytest

from glmchat.settings import load_settings
from glmchat.tui.widgets.welcome import Welcome
from tests.tui_support import engine_with, make_app, send, wait_for, wait_ready


async def test_the_status_bar_welcome_history_and_export_use_the_engines_name(tmp_path):
    engine = engine_with({"model": "SmolLM2-135M-Instruct", "quant": "Q4_1", "path": "/m/SmolLM2-135M-Instruct.Q4_1.gguf"})
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot, app)
        welcome = str(app.chat_screen.query_one(Welcome).render())
        await send(pilot, app, "hi")
        status = str(app.chat_screen.status.status_text())
        conv = app.options.history.get(app.chat_screen.conversation_id)
        export = app.options.history.render(app.chat_screen.conversation_id)
    assert "SmolLM2-135M-Instruct Q4_1" in welcome
    assert "SmolLM2-135M-Instruct Q4_1" in status
    assert (conv.model, conv.quant) == ("SmolLM2-135M-Instruct", "Q4_1")
    assert "model SmolLM2-135M-Instruct (Q4_1)" in export


@pytest.mark.slow
async def test_the_real_tiny_model_has_one_name_everywhere(tmp_path, smollm2_path):
    pytest.importorskip("llama_cpp")
    from glmchat.engine.local import LocalEngine

    settings = load_settings()
    settings.chat.thinking = "off"
    settings.profiles["general"] = settings.profiles["general"].__class__(temperature=0.0, top_k=1, max_tokens=4, seed=1)
    app = make_app(tmp_path, settings=settings, factory=lambda progress: LocalEngine.load(smollm2_path, n_ctx=512))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None or app.chat_screen.load_error is not None, 120)
        assert app.chat_screen.load_error is None, app.chat_screen.load_error
        welcome = str(app.chat_screen.query_one(Welcome).render())
        await send(pilot, app, "hi", timeout=120)
        status = str(app.chat_screen.status.status_text())
        conv = app.options.history.get(app.chat_screen.conversation_id)
    name = "SmolLM2-135M-Instruct"  # not general.name's "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert f"{name} Q4_1" in welcome and f"{name} Q4_1" in status, (welcome, status)
    assert "Smollm2 135M" not in welcome + status
    assert (conv.model, conv.quant) == (name, "Q4_1")
