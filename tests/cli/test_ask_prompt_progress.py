"""`glmchat ask` shows a long prompt's progress on stderr when it is a terminal: one line rewritten
with \\r, cleared before the answer, the thinking or anything else; nothing on a pipe or with --json."""

from __future__ import annotations

import io
import sys

from glmchat.commands import ask
from glmchat.commands.event_printer import EventPrinter
from glmchat.engine.scripted import ScriptedEngine
from glmchat.session_events import Answer, Notice, PromptProgressed, Thinking, TurnStarted

CLEAR = "\r\x1b[K"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_rewritten_and_cleared_before_the_answer():
    out, err = io.StringIO(), Terminal()
    p = EventPrinter(out, err)
    p.handle(TurnStarted(4700, 0))
    p.handle(PromptProgressed(512, 4700, 0, 0.2))
    p.handle(PromptProgressed(1100, 4700, 100, 10.0))
    assert err.getvalue().count("\r") == 2 and "\n" not in err.getvalue()
    assert err.getvalue().endswith("reading the prompt 1,100/4,700 tok · 100 tok/s · ~36 s left\x1b[0m")
    p.handle(Answer("Hello"))
    assert err.getvalue().endswith(CLEAR) and out.getvalue() == "Hello"  # the line is gone before the answer
    before = err.getvalue()
    p.handle(Answer(" there"))
    assert err.getvalue() == before  # cleared once


def test_progress_is_cleared_before_thinking_and_notices():
    err = Terminal()
    p = EventPrinter(io.StringIO(), err, show_thinking=True)
    p.handle(PromptProgressed(64, 640, 0, 1.0))
    p.handle(Thinking("hmm"))
    assert err.getvalue().split(CLEAR)[-1].startswith("\x1b[2mhmm")
    p.handle(Answer("ok"))
    p2_err = Terminal()
    p2 = EventPrinter(io.StringIO(), p2_err)
    p2.handle(PromptProgressed(64, 640, 0, 1.0))
    p2.handle(Notice("a notice"))
    assert p2_err.getvalue().endswith(CLEAR + "a notice\n")
    p3_err = Terminal()
    p3 = EventPrinter(io.StringIO(), p3_err)
    p3.handle(PromptProgressed(64, 640, 0, 1.0))
    p3.end_thinking_line()  # the turn broke off (Ctrl-C, an error): the line is cleared too
    assert p3_err.getvalue().endswith(CLEAR) and not p3.progress_open


def test_no_progress_on_a_pipe_or_with_json():
    for err, kw in ((io.StringIO(), {}), (Terminal(), {"as_json": True})):
        p = EventPrinter(io.StringIO(), err, **kw)
        p.handle(PromptProgressed(64, 640, 0, 1.0))
        p.handle(Answer("x"))
        assert err.getvalue() == ""


def test_ask_on_a_terminal_shows_progress_then_only_the_answer(monkeypatch, tmp_path, capsys):
    engine = ScriptedEngine(["Hmm.</think>Forty-two."], prompt_chunks=3)
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert ask.run_ask(ask.AskOptions(prompt="the answer?", workspace=tmp_path, no_history=True)) == 0
    assert capsys.readouterr().out == "Forty-two.\n"
    shown = err.getvalue()
    assert shown.count("reading the prompt") == 2 and CLEAR in shown
    assert "reading the prompt" not in shown.split(CLEAR)[-1]  # nothing of it is left on screen


def test_ask_on_a_pipe_writes_no_progress(monkeypatch, tmp_path, capsys):
    engine = ScriptedEngine(["</think>Forty-two."], prompt_chunks=3)
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    assert ask.run_ask(ask.AskOptions(prompt="the answer?", workspace=tmp_path, no_history=True)) == 0
    out, err = capsys.readouterr()
    assert out == "Forty-two.\n" and "reading the prompt" not in err and "\r" not in err
