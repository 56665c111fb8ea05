"""`glmchat ask` with bytes that are not UTF-8 on stdin or in its argument (issue 14, point 7).

The attack: `printf 'caf\\xe9 \\xff?' | glmchat ask` died with a UnicodeDecodeError traceback (stdin
is strict UTF-8 under a UTF-8 locale), or, where stdin carries bad bytes as surrogates, with a
UnicodeEncodeError from the store after an empty "(untitled)" conversation was made. Now the bad
bytes arrive as U+FFFD, the question is answered and saved under its own title.
"""

from __future__ import annotations

import io
import sys

import pytest

from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.store import Store


@pytest.fixture
def engine(monkeypatch) -> ScriptedEngine:
    engine = ScriptedEngine(["Hmm.</think>A word."])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    return engine


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_invalid_utf8_on_stdin_is_answered_and_saved(engine, monkeypatch, capsys, errors):
    stdin = io.TextIOWrapper(io.BytesIO(b"what is caf\xe9 \xff?\n"), encoding="utf-8", errors=errors)
    monkeypatch.setattr(sys, "stdin", stdin)
    assert ask.run_ask(ask.AskOptions()) == 0
    out, err = capsys.readouterr()
    assert out == "A word.\n" and "Traceback" not in err
    sent = engine.requests[0].messages[-1]["content"]
    assert sent == "what is caf\ufffd \ufffd?" and sent.encode("utf-8")
    with Store() as s:
        assert [c.title for c in s.list_conversations()] == ["what is caf\ufffd \ufffd?"]  # no "(untitled)"


def test_an_argument_with_bytes_that_are_not_utf8(engine, capsys):
    assert ask.run_ask(ask.AskOptions(prompt="open caf\udce9.txt")) == 0  # argv decoded with surrogateescape
    assert engine.requests[0].messages[-1]["content"] == "open caf\ufffd.txt"
    with Store() as s:
        assert [c.title for c in s.list_conversations()] == ["open caf\ufffd.txt"]
