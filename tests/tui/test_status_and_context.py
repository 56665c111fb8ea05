"""The status bar (model, plan, profile, thinking, context gauge, speed; narrow terminals) and the notices
about a filling context."""

from __future__ import annotations

import threading

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.widgets.conversation_item import relative_time
from glmchat.tui.widgets.status import StatusBar, StatusInfo, context_bar
from tests.tui_support import MIXED, SIZE, engine_with, make_app, notices, send, wait_for, wait_ready


def line_of(**info) -> str:
    bar = StatusBar()
    bar.info = StatusInfo(**info)
    return str(bar.status_text())


# ---- status bar ----------------------------------------------------------------------------------


async def test_status_bar_shows_model_profile_thinking_context_and_speed(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=(160, 36)) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hello")
        await wait_for(pilot, lambda: app.chat_screen.status.info.ctx_used > 0)
        line = str(app.chat_screen.status.status_text())
        for part in ("scripted", "CPU", "general", "think on", "ctx", "/16,384", "TTFT", "tok/s"):
            assert part in line, part
        assert not app.chat_screen.status.has_class("-ctx-warn")
        assert app.chat_screen.status.info.last_tps and app.chat_screen.status.info.last_tps > 0


async def test_status_bar_names_the_offload_plan(tmp_path):
    plan = "CUDA 47/47 layers, experts of 10 in RAM"
    app = make_app(tmp_path, engine=engine_with({"backend": "CUDA", "details": {"plan": plan}}))
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: "ready" in str(app.chat_screen.status.status_text()))
        assert plan in str(app.chat_screen.status.status_text())


async def test_status_bar_names_the_remote_host(tmp_path):
    app = make_app(tmp_path, engine=engine_with({"backend": "remote", "where": "gpu-box:8000", "model": "zai-org/GLM-4.7-Flash"}))
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: "ready" in str(app.chat_screen.status.status_text()))
        assert "remote @ gpu-box:8000" in str(app.chat_screen.status.status_text())


async def test_status_bar_at_80_columns_keeps_profile_thinking_context_and_speed(tmp_path):
    engine = engine_with(  # the name as engine.model_name derives it from this file
        {"model": "SmolLM2-135M-Instruct", "path": "/models/SmolLM2-135M-Instruct.Q4_1.gguf", "quant": "Q4_1", "details": {"plan": "CPU only"}},
        n_ctx=512,
    )
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hi")
        await wait_for(pilot, lambda: app.chat_screen.status.info.ctx_used > 0)
        width = app.chat_screen.status.size.width
        line = str(app.chat_screen.status.status_text(width))
        assert len(line) <= width, line
        for part in ("general", "think on", "/512", "tok/s", "ready"):
            assert part in line, (part, line)
        assert "SmolLM2" in line
        assert not app.chat_screen.sidebar.display or app.chat_screen.sidebar.size.width <= 24
        assert app.chat_screen.chat.size.width >= 50


# ---- context gauge and notices -------------------------------------------------------------------


def test_context_bar_and_relative_time():
    assert context_bar(0, 100) == "▱" * 10
    assert context_bar(85, 100) == "▰" * 8 + "▱" * 2  # 8.5 rounds to even
    assert context_bar(100, 100) == "▰" * 10
    now = 1_000_000.0
    assert relative_time(now - 5, now) == "just now"
    assert relative_time(now - 300, now) == "5 min ago"
    assert relative_time(now - 7200, now) == "2 h ago"
    assert relative_time(now - 90000, now) == "yesterday"
    assert relative_time(now - 5 * 86400, now) == "5 d ago"


def test_context_gauge_never_shows_more_than_the_context():
    line = line_of(model="m", ctx_used=518, ctx_total=512)
    assert "518" not in line and "101%" not in line
    assert "512/512" in line and "full" in line
    assert "▱" not in line  # the bar is all filled


async def test_context_gauge_grows_while_the_answer_streams(tmp_path):
    gate = threading.Event()
    script = "</think>" + "word " * 40

    class Gated(ScriptedEngine):
        def stream(self, request, cancel=None):
            for n, item in enumerate(super().stream(request, cancel)):
                if n == 12:
                    gate.wait(10)
                yield item

    engine = Gated(scripts=[script], chunk_chars=5)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: app.chat_screen.status.info.ctx_used > 0)
        before = app.chat_screen.status.info.ctx_used
        app.chat_screen.prompt.load_text("hello there")
        await pilot.press("enter")
        # 11 chunks are out and the engine waits: the gauge counts prompt + generated tokens
        await wait_for(pilot, lambda: app.chat_screen.status.info.ctx_used >= before + 10)
        assert app.chat_screen.generating
        gate.set()
        await wait_for(pilot, lambda: not app.chat_screen.generating)


async def test_context_warning_from_80_percent(tmp_path):
    filler = "".join(f"word{i} " for i in range(275))[:1900]  # text that does not repeat (the loop guard stops "xxx…")
    engine = ScriptedEngine(scripts=["</think>" + filler], n_ctx=600, chunk_chars=50)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "fill it")
        await wait_for(pilot, lambda: app.chat_screen.status.has_class("-ctx-warn"))
        assert "nearly full" in str(app.chat_screen.status.status_text())
        assert any("full" in n for n in notices(app))


async def test_context_overflow_notice_from_session_is_shown(tmp_path):
    engine = ScriptedEngine(scripts=["</think>" + "y" * 400], n_ctx=700, chunk_chars=40)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        for i in range(4):
            await send(pilot, app, f"turn {i} " + "z" * 150)
        assert any("left out" in n for n in notices(app)), notices(app)


async def test_context_notice_never_says_more_than_100_percent(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.show_context(518, 512)
        await pilot.pause()
        text = " ".join(notices(app))
        assert "Context full." in text and "101%" not in text
