"""Pilot tests for the TUI fixes from the QA pass (status bar, history, engine notes, rough edges)."""

from __future__ import annotations

import threading

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.widgets.chat import NoticeBlock
from glmchat.tui.widgets.status import StatusBar, StatusInfo
from tests.tui_support import make_app, send, wait_for, wait_ready

SIZE = (110, 36)


def notices(app) -> list[str]:
    return [n.text for n in app.chat.query(NoticeBlock)]


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
        await wait_for(pilot, lambda: app.status.info.ctx_used > 0)
        before = app.status.info.ctx_used
        app.prompt.load_text("hello there")
        await pilot.press("enter")
        # 11 chunks are out and the engine waits: the gauge counts prompt + generated tokens
        await wait_for(pilot, lambda: app.status.info.ctx_used >= before + 10)
        assert app.generating
        gate.set()
        await wait_for(pilot, lambda: not app.generating)
