"""Continuing a conversation runs it where it ran: `glmchat ask -c` / `--conversation ID`, `glmchat -c`
and `bench` open the recorded model file (or endpoint, context) unless an option says otherwise; a
recorded file that is gone is an error naming it (exit 1), never a download; `history show` says what
it ran on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from glmchat.commands import ask
from glmchat.engine.base import EngineInfo
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import GlmchatError, ModelError
from glmchat.store import Store


class Opened:
    """open_engine's stand-in: remembers what it was asked for, answers from a scripted engine that
    says it runs the file (or endpoint) it was given."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, settings, **kw):
        self.calls.append({**kw, "served_model": settings.remote.model})
        if kw.get("endpoint"):
            info = EngineInfo(model="served", path=kw["endpoint"], backend="remote", n_ctx=32768)
        else:
            path = str(kw.get("model") or "/hub/default.gguf")
            info = EngineInfo(model=Path(path).stem, path=path, quant="Q8_0", n_ctx=kw.get("n_ctx") or 16384)
        return ScriptedEngine(["Hmm.</think>Because."], info=info, n_ctx=info.n_ctx)

    @property
    def last(self) -> dict:
        return self.calls[-1]


@pytest.fixture
def opened(monkeypatch) -> Opened:
    fake = Opened()
    monkeypatch.setattr(ask, "open_engine", fake)
    return fake


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "models" / "x.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF")  # only looked at, never loaded here
    return path


def run(**options) -> int:
    return ask.run_ask(ask.AskOptions(**options))


def test_ask_continue_uses_the_model_the_chat_was_held_with(opened, model_file, capsys):
    assert run(prompt="why is the sky blue?", model=model_file, n_ctx=4096) == 0
    assert run(prompt="and why?", continue_last=True) == 0
    assert opened.last["model"] == model_file and opened.last["n_ctx"] == 4096 and opened.last["quant"] is None
    with Store() as store:
        conv = store.most_recent()
        assert conv.message_count == 4  # both turns in one conversation
        cid = conv.id
    assert run(prompt="once more", conversation=cid) == 0  # --conversation ID: the same lookup
    assert opened.last["model"] == model_file and opened.last["n_ctx"] == 4096


def test_options_given_win_and_the_record_follows_them(opened, model_file, tmp_path):
    other = tmp_path / "y.gguf"
    other.write_bytes(b"GGUF")
    assert run(prompt="first", model=model_file, n_ctx=4096) == 0
    assert run(prompt="second", continue_last=True, model=other) == 0
    assert opened.last["model"] == other and opened.last["n_ctx"] == 4096  # the conversation's context stays
    assert run(prompt="third", continue_last=True, n_ctx=8192) == 0
    assert opened.last["model"] == other and opened.last["n_ctx"] == 8192  # y.gguf is now what it runs on
    assert run(prompt="fourth", continue_last=True, quant="UD-Q2_K_XL") == 0
    assert opened.last["model"] is None and opened.last["quant"] == "UD-Q2_K_XL"


def test_a_recorded_file_that_is_gone_is_an_error_not_a_download(opened, model_file, capsys):
    assert run(prompt="first", model=model_file) == 0
    calls = len(opened.calls)
    model_file.unlink()
    with pytest.raises(ModelError) as caught:
        run(prompt="and why?", continue_last=True)
    exc = caught.value
    assert exc.exit_code == 1 and len(opened.calls) == calls  # nothing was opened, let alone downloaded
    assert str(model_file) in exc.message and "No such file" in exc.message
    assert "--model PATH" in exc.hint and "--quant" in exc.hint


def test_a_remote_conversation_reconnects_to_its_endpoint_and_model(opened, monkeypatch):
    assert run(prompt="first", endpoint="http://127.0.0.1:8000/v1") == 0
    assert run(prompt="again", continue_last=True) == 0
    assert opened.last["endpoint"] == "http://127.0.0.1:8000/v1" and opened.last["model"] is None


def test_a_conversation_recorded_before_this_runs_on_the_defaults(opened):
    with Store() as store:
        conv = store.create_conversation(model="GLM-4.7-Flash", quant="UD-Q4_K_XL")  # no "run" record
        store.add_message(conv.id, "user", "old")
    assert run(prompt="new", conversation=conv.id) == 0
    assert opened.last["model"] is None and opened.last["quant"] is None and opened.last["endpoint"] is None


# ---- history show --------------------------------------------------------------------------------


def test_history_show_says_what_it_ran_on(opened, model_file):
    from glmchat.commands import history

    assert run(prompt="first", model=model_file, n_ctx=4096, profile="tool", think="preserve") == 0
    app = typer.Typer()
    app.callback()(lambda: None)
    history.register(app)
    with Store() as store:
        cid = store.most_recent().id
    res = CliRunner().invoke(app, ["history", "show", str(cid)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert f"file:     {model_file}" in res.output and "context:  4,096 tokens" in res.output
    assert "profile:  tool" in res.output and "thinking: preserve" in res.output and "model:    x (Q8_0)" in res.output


# ---- the TUI's start and bench -------------------------------------------------------------------


def test_the_tui_reopens_a_conversation_on_its_model(opened, model_file, monkeypatch):
    import glmchat.tui.app as tui_app
    from glmchat import cli
    from glmchat.engine import factory

    assert run(prompt="first", model=model_file, n_ctx=4096) == 0
    with Store() as store:
        cid = store.most_recent().id
    started: dict = {}

    def fake_run_app(settings, *, engine_factory, history, **options):
        started.update(options, engine=engine_factory(None))
        history.close()
        return 0

    monkeypatch.setattr(tui_app, "run_app", fake_run_app)
    monkeypatch.setattr(factory, "open_engine", opened)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    args = dict(version=False, model=None, quant=None, endpoint=None, n_ctx=None, profile="tool", conversation=None,
                tools=False, workspace=None, gpu_layers=None, cpu_moe=None, speculative=None, verbose=False)
    with pytest.raises(typer.Exit):
        cli.root(SimpleNamespace(invoked_subcommand=None), continue_last=True, **args)
    assert started["conversation_id"] == cid and opened.last["model"] == model_file and opened.last["n_ctx"] == 4096
    with Store() as store:
        assert store.get_conversation(cid).profile == "tool"  # an explicit --profile wins over the recorded one

    model_file.unlink()
    with pytest.raises(GlmchatError, match="cannot be opened now"):
        cli.root(SimpleNamespace(invoked_subcommand=None), continue_last=False, **{**args, "conversation": cid})


def test_bench_without_model_measures_the_latest_conversations_file(opened, model_file, monkeypatch):
    from glmchat.commands import bench
    from glmchat.engine import factory

    app = typer.Typer()
    app.callback()(lambda: None)
    bench.register(app)
    monkeypatch.setattr(factory, "open_engine", opened)
    res = CliRunner().invoke(app, ["bench", "-p", "8", "-n", "8", "--ctx", "512"])
    assert opened.last["model"] is None  # no conversation yet: the defaults (a downloaded quant, never a download)
    assert run(prompt="first", model=model_file) == 0
    res = CliRunner().invoke(app, ["bench", "-p", "8", "-n", "8", "--ctx", "512"])
    assert opened.last["model"] == model_file and opened.last["n_ctx"] == 512
    assert "bench measures the embedded engine only" in str(res.exception)  # the scripted stand-in is not one


# ---- the real thing ------------------------------------------------------------------------------


@pytest.mark.slow
def test_ask_continue_after_a_model_chat_runs_offline_on_that_model(smollm2_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing can download
    base = [sys.executable, "-m", "glmchat", "ask", "--max-tokens", "8", "--ctx", "1024", "--no-think"]
    first = subprocess.run([*base, "--model", str(smollm2_path), "Say hi."], capture_output=True, text=True,
                           timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*base, "-c", "And why?"], capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    shown = subprocess.run([sys.executable, "-m", "glmchat", "history", "show", "1"], capture_output=True, text=True,
                           timeout=60, env={**env, "COLUMNS": "300"})
    assert shown.returncode == 0 and f"file:     {os.path.abspath(smollm2_path)}" in shown.stdout
