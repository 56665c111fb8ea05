"""`glmchat ask` with @mentions and your own /NAME commands (in process, on a scripted engine)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import UsageError
from glmchat.settings import load_settings


@pytest.fixture
def engine(monkeypatch) -> ScriptedEngine:
    engine = ScriptedEngine(["</think>Done."])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    return engine


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    folder = tmp_path / ".glmchat" / "commands"
    folder.mkdir(parents=True)
    (folder / "review.md").write_text("---\ndescription: Review\ntools: true\nprofile: precise\n---\nReview $1. All: $ARGUMENTS\n")
    return tmp_path


def run(ws, prompt: str, **options) -> int:
    return ask.run_ask(ask.AskOptions(prompt=prompt, workspace=ws, no_history=True, **options))


def user_content(engine: ScriptedEngine) -> str:
    return [m for m in engine.requests[0].messages if m["role"] == "user"][-1]["content"]


def test_a_mention_attaches_the_workspace_file(engine, ws, capsys):
    assert run(ws, "what does @notes.txt say?") == 0
    content = user_content(engine)
    assert content.startswith("what does @notes.txt say?") and "notes.txt\n```\nremember the milk\n```" in content
    assert capsys.readouterr().out == "Done.\n"


def test_emails_and_missing_paths_are_sent_as_typed(engine, ws):
    assert run(ws, "write to a@b.com about @missing.txt") == 0
    assert user_content(engine) == "write to a@b.com about @missing.txt"


def test_a_mention_that_cannot_be_attached_is_a_usage_error_before_the_model_loads(engine, ws):
    (ws / "blob.bin").write_bytes(b"\x00" * 8)
    with pytest.raises(UsageError) as info:
        run(ws, "see @blob.bin")
    assert info.value.message.startswith("@blob.bin: ") and engine.requests == []


def test_a_custom_command_runs_headless_with_its_front_matter(engine, ws, monkeypatch):
    settings = load_settings()
    settings.profiles["precise"] = replace(settings.profile("general"), temperature=0.125)
    monkeypatch.setattr(ask, "load_settings", lambda: settings)
    assert run(ws, "/review src/app.py fast") == 0
    assert user_content(engine) == "Review src/app.py. All: src/app.py fast"
    request = engine.requests[0]
    assert request.tools and request.sampling.temperature == 0.125


def test_an_unknown_slash_word_is_sent_as_text(engine, ws):
    assert run(ws, "/nothing here") == 0
    assert user_content(engine) == "/nothing here"
