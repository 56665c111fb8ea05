"""Pilot tests for the TUI fixes from the QA pass (status bar, history, engine notes, rough edges)."""

from __future__ import annotations

import threading

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.status import StatusBar, StatusInfo
from tests.tui_support import make_app, send, wait_for, wait_ready

SIZE = (110, 36)


def notices(app) -> list[str]:
    return [n.text for n in app.chat_screen.chat.query(NoticeBlock)]


def line_of(**info) -> str:
    bar = StatusBar()
    bar.info = StatusInfo(**info)
    return str(bar.status_text())


# ---- 1. context gauge -----------------------------------------------------------------------------


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


# ---- 2. status bar content and narrow terminals ------------------------------------------------------


def engine_with(info_changes: dict, **kw) -> ScriptedEngine:
    engine = ScriptedEngine(scripts=["</think>ok"], **kw)
    for k, v in info_changes.items():
        setattr(engine.info, k, v)
    return engine


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
    long_name = "Smollm2 135M 8k Lc100K Mix1 Ep2"
    engine = engine_with(
        {"model": long_name, "path": "/models/SmolLM2-135M-Instruct.Q4_1.gguf", "quant": "Q4_1", "details": {"plan": "CPU only"}},
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
        assert long_name not in line
        assert "SmolLM2" in line  # the file stem names it better than general.name
        assert not app.chat_screen.sidebar.display or app.chat_screen.sidebar.size.width <= 24
        assert app.chat_screen.chat.size.width >= 50


# ---- 3. prompt history --------------------------------------------------------------------------------


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


# ---- 4. engine notes ----------------------------------------------------------------------------------


async def test_engine_notes_are_shown_once_after_load(tmp_path):
    note = "context 4096 clamped to the model's trained context 2048"
    app = make_app(tmp_path, engine=engine_with({"details": {"notes": [note]}}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: any(note in n for n in notices(app)))
        await send(pilot, app, "hi")
        assert sum(note in n for n in notices(app)) == 1


async def test_a_turn_stopped_by_a_full_context_says_so(tmp_path):
    from dataclasses import replace

    from glmchat.engine.base import Finished
    from glmchat.tui.widgets.assistant_message import AssistantMessage

    class FullContext(ScriptedEngine):
        def stream(self, request, cancel=None):
            for item in super().stream(request, cancel):
                if isinstance(item, Finished):
                    item = Finished(replace(item.usage, stop_reason="length", note="the context is full (512 tokens)"))
                yield item

    app = make_app(tmp_path, engine=FullContext(scripts=["</think>and then it"]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "go on")
        msg = list(app.chat_screen.chat.query(AssistantMessage))[-1]
        shown = str(msg.query_one(".message-mark").render())
        assert "context is full (512 tokens)" in shown, shown
        assert "token limit" not in shown


async def test_engine_notes_keep_the_welcome(tmp_path):
    from glmchat.tui.widgets.welcome import Welcome

    app = make_app(tmp_path, engine=engine_with({"details": {"notes": ["flash attention turned on"]}}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: any("flash attention" in n for n in notices(app)))
        assert app.chat_screen.chat.query(Welcome)


# ---- 5. rough edges -----------------------------------------------------------------------------------


async def test_copy_with_no_answer_yet(tmp_path):
    from glmchat.tui.widgets.error_block import ErrorBlock

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/copy")
        await pilot.pause()
        assert "Nothing to copy yet." in notices(app)
        assert not app.chat_screen.chat.query(ErrorBlock)


async def test_title_before_the_first_message_is_applied_when_the_conversation_is_saved(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/title Parser work")
        await pilot.pause()
        assert any("Parser work" in n for n in notices(app))
        await send(pilot, app, "hello there")
        assert app.chat_screen.conversation_id is not None
        titles = {c.id: c.title for c in app.options.history.store.list_conversations()}
        assert titles[app.chat_screen.conversation_id] == "Parser work"
        # a new conversation does not inherit it
        await app.chat_screen.conversations.new()
        await send(pilot, app, "second one")
        titles = {c.id: c.title for c in app.options.history.store.list_conversations()}
        assert titles[app.chat_screen.conversation_id] != "Parser work"


async def test_title_without_history_says_why(tmp_path):
    app = make_app(tmp_path, store=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/title Something")
        await pilot.pause()
        from glmchat.tui.widgets.error_block import ErrorBlock

        assert any("history is off" in e.message.lower() for e in app.chat_screen.chat.query(ErrorBlock))


async def test_context_notice_never_says_more_than_100_percent(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.show_context(518, 512)
        await pilot.pause()
        text = " ".join(notices(app))
        assert "Context full." in text and "101%" not in text
