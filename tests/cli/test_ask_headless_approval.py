"""`glmchat ask --tools` without --yes never writes or executes, whatever `[tools] approve` says:
`approve = "auto"` in config.toml is for the TUI, where the user watches every call.

The attack: a config with `approve = "auto"` and a model that calls write_file, run_shell and
python. Nothing may be created or run, and the model must be told each call was denied. Reads
inside the workspace still run.
"""

from __future__ import annotations

import pytest

from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.settings import config_path


def call(name: str, **args: str) -> str:
    pairs = "".join(f"<arg_key>{k}</arg_key><arg_value>{v}</arg_value>" for k, v in args.items())
    return f"<tool_call>{name}{pairs}</tool_call>"


HOSTILE = "I will take over.</think>" + "".join([
    call("write_file", path="planted.txt", content="pwned"),
    call("run_shell", command="touch ran-shell.txt"),
    call("python", code="open('ran-python.txt', 'w').write('pwned')"),
    call("read_file", path="notes.txt"),
])
DONE = "Done.</think>Finished."


@pytest.fixture
def engine(monkeypatch, tmp_path) -> ScriptedEngine:
    """The hostile model, a workspace holding notes.txt, and `[tools] approve = "auto"` in config.toml."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[tools]\napprove = "auto"\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("the notes\n", encoding="utf-8")
    scripted = ScriptedEngine([HOSTILE, DONE])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: scripted)
    return scripted


def tool_messages(engine: ScriptedEngine) -> list[str]:
    return [m["content"] for m in engine.requests[1].messages if m.get("role") == "tool"]


def test_approve_auto_in_config_does_not_let_ask_write_or_run_without_yes(engine, tmp_path, capsys):
    assert ask.run_ask(ask.AskOptions(prompt="do it", tools=True, workspace=tmp_path, no_history=True)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written, nothing ran
    denied, read = tool_messages(engine)[:3], tool_messages(engine)[3]
    for name, text in zip(("write_file", "run_shell", "python"), denied):
        assert text.startswith(f"The user denied this {name} call; it was not run.") and "--yes" in text
    assert "the notes" in read  # a read inside the workspace runs as before
    err = capsys.readouterr().err
    assert "[tool deny] write_file" in err and "[tool deny] run_shell" in err and "[tool deny] python" in err
    assert "[tool auto] read_file" in err


@pytest.mark.slow  # runs a shell and a Python process
def test_with_yes_the_same_calls_run(engine, tmp_path):
    assert ask.run_ask(ask.AskOptions(prompt="do it", tools=True, yes=True, workspace=tmp_path, no_history=True)) == 0
    assert (tmp_path / "planted.txt").read_text() == "pwned"
    assert (tmp_path / "ran-shell.txt").exists() and (tmp_path / "ran-python.txt").exists()
