"""Loading the model while the UI is already up: held messages, load errors, engine notes; /model (the
picker of downloaded quants and GGUFs opened before) and switching; the first-run download."""

from __future__ import annotations

import threading
import time

from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ModelError
from glmchat.settings import load_settings
from glmchat.tui.model_choices import model_choices, recent_models, remember_model
from glmchat.tui.screens.pick import PickScreen
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock
from tests.tui_support import SIZE, engine_with, errors, make_app, notices, send, wait_for, wait_ready

# ---- loading at start-up -------------------------------------------------------------------------


async def test_ui_takes_typing_within_a_second_and_holds_first_message_until_ready(tmp_path):
    gate = threading.Event()
    engine = ScriptedEngine(scripts=["</think>Ready answer."])

    def slow_factory(progress):
        progress(0.5, "Loading tensors… 50%")
        gate.wait(10)
        return engine

    t0 = time.monotonic()
    app = make_app(tmp_path, factory=slow_factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hello")
        assert time.monotonic() - t0 < 1.0 + 1.0  # app start + typing (generous for a loaded CI box)
        assert app.chat_screen.prompt.text == "hello"
        assert app.chat_screen.loading and app.chat_screen.session is None
        await wait_for(pilot, lambda: "50%" in str(app.query_one("#loading-text").render()))
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.held == ["hello"]
        assert any("still loading" in n for n in notices(app))
        assert engine.calls == 0
        gate.set()
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert engine.calls == 1
        assert app.chat_screen.answers() == ["Ready answer."]
        assert app.query_one("#loading").has_class("-hidden")


async def test_load_failure_shows_message_and_hint_not_traceback(tmp_path):
    def failing(progress):
        raise ModelError("Model file /x.gguf not found.", "Pass --model PATH or download one with `glmchat hub pull`.")

    app = make_app(tmp_path, factory=failing)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None)
        await pilot.pause()
        errs = errors(app)
        assert errs and errs[0].message == "Model file /x.gguf not found."
        assert "glmchat hub pull" in errs[0].hint
        assert "model not loaded" in str(app.chat_screen.status.status_text())
        app.chat_screen.prompt.load_text("hi")
        await pilot.press("enter")
        await pilot.pause()
        assert "not sent" in errors(app)[-1].message


async def test_unexpected_load_exception_becomes_a_message(tmp_path):
    def broken(progress):
        raise RuntimeError("boom")

    app = make_app(tmp_path, factory=broken)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None)
        await pilot.pause()
        assert "boom" in errors(app)[0].message and errors(app)[0].hint


async def test_bad_model_path_from_the_real_factory_is_a_message_and_hint(tmp_path):
    from glmchat.engine.factory import open_engine

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    for path in (tmp_path / "missing.gguf", bad):

        def factory(progress, download_progress=None, p=path):
            return open_engine(load_settings(), model=p, progress=progress, interactive=False)

        app = make_app(tmp_path, factory=factory)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.chat_screen.load_error is not None, 20)
            await pilot.pause()
            err = app.chat_screen.chat.query(ErrorBlock).last()
            assert path.name in err.message and "\n" not in err.message and err.hint, (err.message, err.hint)
            assert not err.message.startswith("Loading the model failed")  # an expected failure, not a crash
            assert "Traceback" not in str(err.render())
            assert "model not loaded" in str(app.chat_screen.status.status_text())


async def test_commands_needing_the_model_explain_while_loading(tmp_path):
    gate = threading.Event()
    app = make_app(tmp_path, factory=lambda p: (gate.wait(5), ScriptedEngine())[1])
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.load_text("/retry")
        await pilot.press("enter")
        await pilot.pause()
        assert "still loading" in errors(app)[-1].message
        gate.set()
        await wait_ready(pilot, app)


async def test_engine_notes_are_shown_once_after_load(tmp_path):
    note = "context 4096 clamped to the model's trained context 2048"
    app = make_app(tmp_path, engine=engine_with({"details": {"notes": [note]}}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: any(note in n for n in notices(app)))
        await send(pilot, app, "hi")
        assert sum(note in n for n in notices(app)) == 1


async def test_engine_notes_keep_the_welcome(tmp_path):
    from glmchat.tui.widgets.welcome import Welcome

    app = make_app(tmp_path, engine=engine_with({"details": {"notes": ["flash attention turned on"]}}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: any("flash attention" in n for n in notices(app)))
        assert app.chat_screen.chat.query(Welcome)


# ---- /model: choices and switching ---------------------------------------------------------------


def fake_gguf(path, size: int = 2048):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * (size - 4))
    return path


def test_recent_models_are_remembered_newest_first(tmp_path):
    a = fake_gguf(tmp_path / "a.gguf")
    b = fake_gguf(tmp_path / "b.gguf")
    assert recent_models() == []
    remember_model(a)
    remember_model(b)
    remember_model(a)
    assert recent_models() == [str(a), str(b)]
    b.unlink()
    assert recent_models() == [str(a)]


def test_model_choices_list_downloaded_then_recent_without_duplicates(tmp_path, monkeypatch):
    import glmchat.hub

    quant = fake_gguf(tmp_path / "hub" / "GLM-4.7-Flash-UD-Q4_K_XL.gguf", 3_000_000)
    other = fake_gguf(tmp_path / "models" / "mine.gguf")
    monkeypatch.setattr(glmchat.hub, "local_quants", lambda: {"UD-Q4_K_XL": quant})
    remember_model(other)
    remember_model(quant)
    choices = model_choices(config_path=None, current=str(other))
    assert [c.source for c in choices] == ["downloaded", "recent"]
    assert choices[0].path == str(quant) and choices[0].label.startswith("UD-Q4_K_XL") and "2.9 MiB" in choices[0].label
    assert choices[1].path == str(other) and "current" in choices[1].label


async def test_model_picker_switches_in_the_background_with_progress(tmp_path, monkeypatch):
    import glmchat.hub

    quant = fake_gguf(tmp_path / "hub" / "GLM-4.7-Flash-UD-Q4_K_XL.gguf")
    before = fake_gguf(tmp_path / "models" / "before.gguf")
    monkeypatch.setattr(glmchat.hub, "local_quants", lambda: {"UD-Q4_K_XL": quant})
    remember_model(before)
    second = ScriptedEngine(scripts=["</think>from the quant"])
    second.info.model, second.info.quant, second.info.path = "GLM-4.7-Flash", "UD-Q4_K_XL", str(quant)
    gate = threading.Event()
    loaded: list[str] = []

    def model_factory(path, progress):
        loaded.append(path)
        progress(0.4, "Loading model… 40%")
        gate.wait(10)
        return second

    app = make_app(tmp_path, ["</think>from the first"], model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        first = app.chat_screen.engine
        app.chat_screen.prompt.load_text("/model")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        labels = [label for _path, label in app.screen.items]
        assert labels[0].startswith("UD-Q4_K_XL") and "before.gguf" in labels[1]
        await pilot.press("enter")  # the first row: the downloaded quant
        await wait_for(pilot, lambda: "40%" in str(app.query_one("#loading-text").render()))
        assert not app.query_one("#loading").has_class("-hidden") and app.chat_screen.engine is first
        assert loaded == [str(quant)]
        # typing during the switch holds the message until the new model is there
        app.chat_screen.prompt.load_text("hello")
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.held == ["hello"] and first.calls == 0
        gate.set()
        await wait_for(pilot, lambda: app.chat_screen.engine is second and app.chat_screen.turns.turns_done == 1)
        assert app.chat_screen.answers() == ["from the quant"]
        assert "GLM-4.7-Flash UD-Q4_K_XL" in str(app.chat_screen.status.status_text())
        assert app.query_one("#loading").has_class("-hidden")
        assert recent_models()[0] == str(quant)


async def test_model_switch_reloads_engine_in_background(tmp_path):
    second = ScriptedEngine(scripts=["</think>from the second model"])
    second.info.model = "second"
    loaded: list[str] = []

    def model_factory(path, progress):
        loaded.append(path)
        return second

    app = make_app(tmp_path, model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/model /models/other.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.engine is second)
        assert loaded == ["/models/other.gguf"]
        assert "second" in str(app.chat_screen.status.status_text())
        await send(pilot, app, "hi")
        assert app.chat_screen.answers() == ["from the second model"]


async def test_model_switch_failure_keeps_the_old_model(tmp_path):
    def model_factory(path, progress):
        raise ModelError(f"Model file {path} not found.", "Check the path.")

    app = make_app(tmp_path, ["</think>still here"], model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        first = app.chat_screen.engine
        app.chat_screen.prompt.load_text("/model /nowhere/x.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(isinstance(w, ErrorBlock) for w in app.chat_screen.chat.children))
        await pilot.pause()
        err = app.chat_screen.chat.query(ErrorBlock).last()
        assert err.message == "Model file /nowhere/x.gguf not found." and err.hint == "Check the path."
        assert any("Still using scripted" in n.text for n in app.chat_screen.chat.query(NoticeBlock))
        assert app.chat_screen.engine is first and app.chat_screen.load_error is None
        assert "ready" in str(app.chat_screen.status.status_text())
        await send(pilot, app, "hi")
        assert app.chat_screen.answers() == ["still here"]


# ---- first run: nothing downloaded ---------------------------------------------------------------


def _hub_env(hub, monkeypatch):
    import glmchat.hub.downloader as dl

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dl, "RETRY_DELAYS", (0.01, 0.01))


def first_run_factory(engine, opened: list, quant: str | None = None):
    """Like cli.py's: resolves the model through the hub with the TUI's download progress."""
    from glmchat.engine.factory import resolve_model_path
    from glmchat.settings import load_settings

    def factory(progress, download_progress=None):
        path = resolve_model_path(load_settings(), quant=quant, interactive=False, download_progress=download_progress)
        opened.append(path)
        progress(0.5, "Loading model…")
        return engine

    return factory


async def test_first_run_offers_the_recommended_quant_downloads_and_continues(tmp_path, monkeypatch):
    from glmchat.tui.widgets.download import DownloadPanel
    from tests.fake_hub import FakeHub

    with FakeHub() as hub:
        _hub_env(hub, monkeypatch)
        hub.throttle = 1_500_000  # ~0.45 s for the 650 KB file: progress is seen on the way
        engine = ScriptedEngine(scripts=["</think>Downloaded and ready."])
        opened: list = []
        shown: list[str] = []
        states: list[str] = []
        original = DownloadPanel.show_progress

        def spy(panel, snap):
            original(panel, snap)
            shown.append(str(panel.query_one("#dl-text-0").render()))
            states.append(str(panel.app.chat_screen.status.status_text()))

        monkeypatch.setattr(DownloadPanel, "show_progress", spy)
        app = make_app(tmp_path, factory=first_run_factory(engine, opened))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.query(DownloadPanel))
            panel = app.query_one(DownloadPanel)
            offer = str(panel.query_one(".download-offer").render())
            size = hub.file("UD-Q4_K_XL").size
            assert "UD-Q4_K_XL" in offer and "fits" in offer and f"{size / 1024:.1f} KiB" in offer
            assert not list(hub.requests) or not [r for r in hub.requests if "/resolve/" in r[1]]  # nothing fetched before yes
            app.chat_screen.prompt.load_text("hello there")  # the UI still takes input; the message waits for the model
            await pilot.press("enter")
            await pilot.pause()
            assert app.chat_screen.held == ["hello there"]
            panel.query_one("#dl-start").focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, 20)
            partial = [f for f in shown if f.split(" / ")[0] not in ("0 B", f"{size / 1024:.1f} KiB")]
            assert partial, shown  # figures seen on the way: bytes, speed, ETA
            assert all("/s" in f and "ETA" in f for f in partial)
            assert "downloading" in " ".join(states)
            assert not app.query(DownloadPanel)
            assert opened and opened[0].name == "GLM-4.7-Flash-UD-Q4_K_XL.gguf" and opened[0].read_bytes() == hub.file("UD-Q4_K_XL").data
            assert app.chat_screen.answers() == ["Downloaded and ready."]


async def test_typing_during_the_download_goes_to_the_input_and_never_cancels_it(tmp_path, monkeypatch):
    """After Download the input has the focus: what the user types (and Enter) is held for the model;
    before, the focus sat on the panel's Cancel button and the first Enter stopped the download."""
    from glmchat.tui.widgets.download import DownloadPanel
    from glmchat.tui.widgets.prompt_input import PromptInput
    from tests.fake_hub import FakeHub

    with FakeHub() as hub:
        _hub_env(hub, monkeypatch)
        hub.throttle = 400_000  # ~1.6 s for the 650 KB file: time to type while it runs
        engine = ScriptedEngine(scripts=["</think>Held and answered."])
        opened: list = []
        app = make_app(tmp_path, factory=first_run_factory(engine, opened))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.query(DownloadPanel))
            await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "dl-start")
            await pilot.press("enter")  # Download (the panel's button has the focus at first)
            await wait_for(pilot, lambda: app.query_one(DownloadPanel).started)
            await wait_for(pilot, lambda: isinstance(app.focused, PromptInput))
            await pilot.press(*"hello", "enter")
            await pilot.pause()
            assert app.chat_screen.held == ["hello"]
            panel = app.query(DownloadPanel)
            assert not panel or not panel.first().cancelled
            await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, 20)
            assert opened and opened[0].read_bytes() == hub.file("UD-Q4_K_XL").data
            assert app.chat_screen.answers() == ["Held and answered."]


async def test_first_run_cancel_keeps_the_partial_file_and_the_next_run_resumes(tmp_path, monkeypatch):
    from glmchat.hub import cache
    from glmchat.tui.widgets.download import DownloadPanel
    from tests.fake_hub import FakeHub

    with FakeHub() as hub:
        _hub_env(hub, monkeypatch)
        f = hub.file("UD-Q4_K_XL")
        hub.throttle = 200_000  # a few seconds for the whole file
        opened: list = []
        app = make_app(tmp_path, factory=first_run_factory(ScriptedEngine(), opened))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "dl-start")
            await pilot.press("enter")  # Download (focused)
            part = cache.incomplete_path(f.sha256)
            await wait_for(pilot, lambda: part.exists() and part.stat().st_size > 100_000, 10)
            t0 = time.monotonic()
            await pilot.press("escape")  # Cancel (the panel has focus)
            await wait_for(pilot, lambda: app.chat_screen.load_error is not None, 5)
            assert time.monotonic() - t0 < 3
            await pilot.pause()
            err = app.chat_screen.chat.query(ErrorBlock).last()
            assert "partial file is kept" in err.message and err.hint
            assert not app.query(DownloadPanel) and opened == []
            kept = part.stat().st_size
            assert 100_000 < kept < f.size
        # the cancelled response's last throttled chunk may still be on its way out: count from when it stops
        served_before, deadline = -1, time.monotonic() + 5
        while served_before != hub.total_served() and time.monotonic() < deadline:
            served_before = hub.total_served()
            time.sleep(0.3)
        hub.throttle = None
        app2 = make_app(tmp_path, factory=first_run_factory(ScriptedEngine(scripts=["</think>ok"]), opened))
        async with app2.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: getattr(app2.focused, "id", None) == "dl-start")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app2.chat_screen.session is not None, 20)
        assert opened[0].read_bytes() == f.data
        assert hub.total_served() - served_before <= f.size - kept + 1024  # resumed, not restarted


async def test_first_run_split_quant_shows_each_file_and_the_total_and_declining_explains(tmp_path, monkeypatch):
    from glmchat.tui.widgets.download import DownloadPanel
    from tests.fake_hub import FakeHub

    with FakeHub() as hub:
        _hub_env(hub, monkeypatch)
        app = make_app(tmp_path, factory=first_run_factory(ScriptedEngine(), [], quant="BF16"))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "dl-start")
            panel = app.query_one(DownloadPanel)
            names = [str(s.render()) for s in panel.query(".download-name")]
            assert names == ["GLM-4.7-Flash-BF16-00001-of-00002.gguf", "GLM-4.7-Flash-BF16-00002-of-00002.gguf", "total (2 files)"]
            assert "in 2 files" in str(panel.query_one(".download-offer").render())
            app.chat_screen.prompt.focus()
            await pilot.pause()
            await pilot.press("escape")  # from the input too: Esc is the panel's Cancel
            await wait_for(pilot, lambda: app.chat_screen.load_error is not None, 5)
            assert "cancelled" in app.chat_screen.load_error.message and "glmchat download BF16" in app.chat_screen.load_error.hint
            assert not [r for r in hub.requests if "/resolve/" in r[1]]
            assert app.focused is app.chat_screen.prompt


async def test_quitting_during_a_download_stops_it_and_keeps_the_partial_file(tmp_path, monkeypatch):
    from glmchat.hub import cache
    from tests.fake_hub import FakeHub

    with FakeHub() as hub:
        _hub_env(hub, monkeypatch)
        f = hub.file("UD-Q4_K_XL")
        hub.throttle = 150_000
        app = make_app(tmp_path, factory=first_run_factory(ScriptedEngine(), []))
        part = cache.incomplete_path(f.sha256)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "dl-start")
            await pilot.press("enter")
            await wait_for(pilot, lambda: part.exists() and part.stat().st_size > 50_000, 10)
            await pilot.press("ctrl+q")
            await pilot.pause()
        t0 = time.monotonic()
        app.shutdown(timeout=5)
        assert app.chat_screen.loader.download.cancel.is_set()
        time.sleep(0.3)  # at most one chunk more may land after the cancel
        size = part.stat().st_size
        time.sleep(0.7)  # at 150 kB/s a running transfer would add ~100 kB here
        assert part.stat().st_size == size < f.size  # stopped; the partial file stays for resuming
        assert time.monotonic() - t0 < 6
