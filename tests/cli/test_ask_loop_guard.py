"""`glmchat ask` shows why the loop guard stopped a turn: on stderr, and as the --json status."""

from __future__ import annotations

import json

from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.loop_guard import ANSWER_STOP

LOOPING = "</think>Plan:\n" + "- read the notes again and summarise them\n" * 200


def test_a_repeating_answer_is_stopped_and_ask_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: ScriptedEngine([LOOPING]))
    assert ask.run_ask(ask.AskOptions(prompt="plan", workspace=tmp_path, no_history=True)) == 0
    out, err = capsys.readouterr()
    assert ANSWER_STOP in err
    assert out.startswith("Plan:\n") and len(out) < len(LOOPING) // 2


def test_json_status_is_stopped(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: ScriptedEngine([LOOPING]))
    ask.run_ask(ask.AskOptions(prompt="plan", workspace=tmp_path, no_history=True, as_json=True))
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "stopped" and ANSWER_STOP in err
