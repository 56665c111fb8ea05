"""Everyday use around loading: commands that need no model work while it loads (a /read attaches to
the message typed meanwhile); a first run that cannot reach the Hub keeps the welcome, names both
ways out and keeps what was typed; a long prompt's progress shows in the status bar; the attachment
chip says what it will cost (an estimate `~` until the model's tokenizer counts it)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tools import Workspace
from glmchat.tui.widgets.attachment_bar import AttachmentBar
from glmchat.tui.widgets.output_block import OutputBlock
from glmchat.tui.widgets.user_message import UserMessage
from glmchat.tui.widgets.welcome import Welcome
from tests.tui_support import SIZE, errors, make_app, notices, send, wait_for


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# Demo\n\nThe answer is 42.\n" + "More words in the readme. " * 40)
    return Workspace(root)


async def type_and_enter(pilot, app, text: str) -> None:
    app.chat_screen.prompt.load_text(text)
    app.chat_screen.prompt.focus()
    await pilot.press("enter")
    await pilot.pause()


def gated(engine):
    gate = threading.Event()

    def factory(progress):
        progress(0.3, "Loading model… 30%")
        gate.wait(10)
        return engine

    return gate, factory


class TokenizingEngine(ScriptedEngine):
    """A scripted engine with a tokenizer of its own (one token per word), like the local engine."""

    def render(self, request) -> str:
        return "\n".join(str(m.get("content", "")) for m in request.messages)

    def tokenize(self, text: str, *, add_special: bool | None = None) -> list[int]:
        return list(range(len(text.split())))


# ---- while the model loads ----------------------------------------------------------------------


async def test_read_and_a_question_typed_while_loading_both_reach_the_model(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>It says 42."])
    gate, factory = gated(engine)
    app = make_app(tmp_path, factory=factory, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.loading)
        await type_and_enter(pilot, app, "/read README.md")
        assert not errors(app), errors(app)[0].message
        assert any("Attached README.md" in n for n in notices(app))
        bar = app.query_one("#attachments", AttachmentBar)
        assert bar.display and bar.labels[0].startswith("README.md · ~")  # an estimate: no tokenizer yet
        await type_and_enter(pilot, app, "What does the readme say?")
        assert app.chat_screen.held == ["What does the readme say?"] and engine.calls == 0
        assert app.chat_screen.chat.query(UserMessage).last().attachments[0].startswith("README.md (")
        gate.set()
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        sent = engine.requests[-1].messages[-1]["content"]
        assert sent.startswith("What does the readme say?") and "The answer is 42." in sent
        assert app.chat_screen.answers() == ["It says 42."]
        assert not bar.display and app.chat_screen.session.pending_attachments == []


async def test_commands_that_need_no_model_work_while_loading(tmp_path, ws):
    gate, factory = gated(ScriptedEngine())
    app = make_app(tmp_path, factory=factory, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.loading)
        await type_and_enter(pilot, app, "/theme")
        await type_and_enter(pilot, app, "/title Reading the demo")
        await type_and_enter(pilot, app, "/ls")
        await wait_for(pilot, lambda: app.chat_screen.chat.query(OutputBlock) and not app.chat_screen.chat.query(OutputBlock).last().running)
        assert "README.md" in app.chat_screen.chat.query(OutputBlock).last().output
        await type_and_enter(pilot, app, "/attach")
        assert not errors(app), [e.message for e in errors(app)]
        assert any(n.startswith("Theme: ") for n in notices(app)) and any("Reading the demo" in n for n in notices(app))
        assert len(app.query_one("#attachments", AttachmentBar).labels) == 1
        await type_and_enter(pilot, app, "/tools on")  # needs the session: says why
        assert "still loading" in errors(app)[-1].message
        gate.set()
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        await pilot.pause()
        assert app.chat_screen.session.pending_attachments[0][0] == "ls ."


# ---- a first run with the Hub out of reach ---------------------------------------------------------


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_offline_first_run_keeps_the_welcome_names_both_ways_out_and_keeps_the_typing(tmp_path, monkeypatch):
    import glmchat.hub.downloader as dl
    from glmchat.engine.factory import resolve_model_path
    from glmchat.settings import load_settings
    from glmchat.tui.widgets.download import DownloadPanel

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dl, "RETRY_DELAYS", (0.01, 0.01))
    typed = threading.Event()

    def factory(progress, download_progress=None):
        typed.wait(10)  # the user types before the hub is asked
        return resolve_model_path(load_settings(), interactive=False, download_progress=download_progress)

    local = ScriptedEngine(scripts=["</think>Loaded from disk."])
    model_factory_calls: list[str] = []

    def model_factory(path, progress):
        model_factory_calls.append(path)
        return local

    app = make_app(tmp_path, factory=factory, model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_enter(pilot, app, "what is a GGUF?")
        assert app.chat_screen.held == ["what is a GGUF?"]
        typed.set()
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None or app.query(DownloadPanel), 20)
        if app.query(DownloadPanel):  # the offer comes before the first request: say yes
            app.query_one("#dl-start").focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.chat_screen.load_error is not None, 20)
        await pilot.pause()
        err = errors(app)[-1]
        for way_out in ("--model PATH", "/model PATH", "HF_HUB_OFFLINE", "HF_ENDPOINT", "glmchat download"):
            assert way_out in err.hint, err.hint
        welcome = app.chat_screen.chat.query(Welcome)
        assert welcome and "no model loaded" in str(welcome.first().render())
        assert not app.chat_screen.chat.query(UserMessage)  # it was not sent: not shown as sent
        assert app.chat_screen.prompt.text == "what is a GGUF?" and app.chat_screen.held == []
        assert any("back in the input" in n for n in notices(app))
        # Enter again with no model: the text stays in the input
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.prompt.text == "what is a GGUF?"
        assert "not sent" in errors(app)[-1].message and "--model PATH" in errors(app)[-1].hint
        # /model PATH loads a file from disk, then the kept message goes
        app.chat_screen.prompt.load_text("/model /models/on-disk.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.engine is local)
        assert model_factory_calls == ["/models/on-disk.gguf"]
        await send(pilot, app, "what is a GGUF?")
        assert app.chat_screen.answers() == ["Loaded from disk."]


# ---- prompt progress in the status bar ------------------------------------------------------------


async def test_status_bar_shows_prompt_progress_until_the_first_token(tmp_path):
    engine = ScriptedEngine(scripts=["</think>Answer after a long prompt."], prompt_chunks=4, prompt_delay=0.3)
    app = make_app(tmp_path, engine=engine)
    states: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        status = app.chat_screen.status
        original = status.refresh_line

        def spy() -> None:
            original()
            states.append(str(status.status_text()))

        status.refresh_line = spy
        await send(pilot, app, "hello")
    reading = [s for s in states if re.search(r"prompt [\d,]+/[\d,]+", s)]  # tokens read of the total
    assert reading, states
    assert any(re.search(r"prompt [\d,]+/[\d,]+ · [\d,]+ tok/s · ~[\d,]+ s$", s) for s in reading)  # rate and time left
    assert not any("0.0 tok/s" in s for s in reading)  # no generation speed before the first token
    first_generating = next(i for i, s in enumerate(states) if s.endswith("generating"))
    assert first_generating > states.index(reading[-1])
    assert "prompt" not in states[-1]


async def test_esc_while_the_prompt_is_read_stops_the_turn(tmp_path):
    engine = ScriptedEngine(scripts=["</think>Never shown."], prompt_chunks=50, prompt_delay=0.1)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.session is not None)
        app.chat_screen.prompt.load_text("hello")
        await pilot.press("enter")
        await wait_for(pilot, lambda: re.search(r"prompt [\d,]+/", str(app.chat_screen.status.status_text())))
        t0 = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, 5)
        assert time.monotonic() - t0 < 2  # reading the whole prompt would take 5 s
        assert app.chat_screen.answers() == [] and engine.calls == 1
        assert "prompt" not in str(app.chat_screen.status.status_text())


# ---- the attachment chip --------------------------------------------------------------------------


async def test_chip_shows_tokens_and_share_estimated_then_counted_when_the_engine_arrives(tmp_path, ws):
    engine = TokenizingEngine(scripts=["</think>ok"], n_ctx=1000)
    gate, factory = gated(engine)
    app = make_app(tmp_path, factory=factory, workspace=ws)
    app.options.settings.model.n_ctx = 1000
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.loading)
        await type_and_enter(pilot, app, "/read README.md")
        bar = app.query_one("#attachments", AttachmentBar)
        text = (ws.root / "README.md").read_text()
        chars = len(f"README.md\n```\n{text.rstrip(chr(10))}\n```")
        estimate = round(chars / 3.5)
        assert bar.labels == [f"README.md · ~{estimate} tok · {100 * estimate / 1000:.0f}% of ctx"]
        gate.set()
        words = len(f"README.md\n```\n{text.rstrip(chr(10))}\n```".split())
        await wait_for(pilot, lambda: bar.labels and "~" not in bar.labels[0])
        assert bar.labels == [f"README.md · {words} tok · {100 * words / 1000:.0f}% of ctx"]
        assert "of ctx" in str(bar.render())
