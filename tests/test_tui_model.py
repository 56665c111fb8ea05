"""Pilot tests for /model (picker of downloaded quants and GGUFs opened before) and model loading."""

from __future__ import annotations

import threading

from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ModelError
from glmchat.tui.models import model_choices, recent_models, remember_model
from glmchat.tui.screens.dialogs import PickScreen
from glmchat.tui.widgets.chat import ErrorBlock, NoticeBlock
from tests.tui_support import make_app, send, wait_for, wait_ready

SIZE = (110, 36)


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
    assert choices[0].path == str(quant) and choices[0].label.startswith("UD-Q4_K_XL") and "3 MB" in choices[0].label
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
        first = app.engine
        app.prompt.load_text("/model")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        labels = [label for _path, label in app.screen.items]
        assert labels[0].startswith("UD-Q4_K_XL") and "before.gguf" in labels[1]
        await pilot.press("enter")  # the first row: the downloaded quant
        await wait_for(pilot, lambda: "40%" in str(app.query_one("#loading-text").render()))
        assert not app.query_one("#loading").has_class("-hidden") and app.engine is first
        assert loaded == [str(quant)]
        # typing during the switch holds the message until the new model is there
        app.prompt.load_text("hello")
        await pilot.press("enter")
        await pilot.pause()
        assert app.held == ["hello"] and first.calls == 0
        gate.set()
        await wait_for(pilot, lambda: app.engine is second and app.turns_done == 1)
        assert app.answers() == ["from the quant"]
        assert "GLM-4.7-Flash UD-Q4_K_XL" in str(app.status.status_text())
        assert app.query_one("#loading").has_class("-hidden")
        assert recent_models()[0] == str(quant)


async def test_model_switch_failure_keeps_the_old_model(tmp_path):
    def model_factory(path, progress):
        raise ModelError(f"Model file {path} not found.", "Check the path.")

    app = make_app(tmp_path, ["</think>still here"], model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        first = app.engine
        app.prompt.load_text("/model /nowhere/x.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(isinstance(w, ErrorBlock) for w in app.chat.children))
        await pilot.pause()
        err = app.chat.query(ErrorBlock).last()
        assert err.message == "Model file /nowhere/x.gguf not found." and err.hint == "Check the path."
        assert any("Still using scripted" in n.text for n in app.chat.query(NoticeBlock))
        assert app.engine is first and app.load_error is None
        assert "ready" in str(app.status.status_text())
        await send(pilot, app, "hi")
        assert app.answers() == ["still here"]
