"""`glmchat ask` in process: glmchat.commands.ask.run_ask on a scripted engine, and its EventPrinter.

The subprocess tests in test_ask.py run real models; these pin down what the printer writes for
each event type (tool calls, results, thinking, --json) without loading one, and how a model too
large for memory is refused before it loads.
"""

from __future__ import annotations

import io
import json

import pytest

from glmchat.commands.event_printer import EventPrinter
from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import GlmchatError
from glmchat.glm import Answer, IncompleteToolCall, Thinking, ToolCall
from glmchat.session_events import Notice, ToolResultEvent, TurnFailed, TurnStarted

WRITE = ("Write it.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>out.txt</arg_value>"
         "<arg_key>content</arg_key><arg_value>hello\n</arg_value></tool_call>")
DONE = "Done.</think>The file is written."


@pytest.fixture
def engine(monkeypatch) -> ScriptedEngine:
    engine = ScriptedEngine([WRITE, DONE])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    return engine


def run(tmp_path, **options) -> int:
    return ask.run_ask(ask.AskOptions(prompt="write hello", workspace=tmp_path, **options))


def test_tools_with_yes_run_and_are_reported_on_stderr(engine, tmp_path, capsys):
    assert run(tmp_path, tools=True, yes=True, no_history=True) == 0
    out, err = capsys.readouterr()
    assert out == "The file is written.\n"
    assert '\n[tool call] write_file {"path": "out.txt", "content": "hello\\n"}\n' in err
    assert "[tool auto] write_file: " in err
    assert (tmp_path / "out.txt").read_text() == "hello\n"


def test_tools_without_yes_are_denied(engine, tmp_path, capsys):
    assert run(tmp_path, tools=True, no_history=True) == 0
    out, err = capsys.readouterr()
    assert "[tool deny] write_file: " in err and not (tmp_path / "out.txt").exists()


def test_json_is_one_object_and_stderr_stays_quiet(engine, tmp_path, capsys):
    assert run(tmp_path, tools=True, yes=True, as_json=True) == 0
    out, err = capsys.readouterr()
    obj = json.loads(out)
    assert obj["answer"] == "The file is written." and obj["thinking"] == "Write it.Done."
    assert obj["tool_calls"] == [{"name": "write_file", "arguments": {"path": "out.txt", "content": "hello\n"}}]
    assert obj["status"] == "complete" and obj["model"] == "scripted" and isinstance(obj["conversation_id"], int)
    assert set(obj["timings"]) <= set(ask.TIMING_KEYS) and "completion_tokens" in obj["usage"]
    assert err == ""


def test_show_thinking_ends_its_line_before_the_answer(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: ScriptedEngine(["Hmm.</think>Hi."]))
    assert run(tmp_path, show_thinking=True, no_history=True) == 0
    out, err = capsys.readouterr()
    assert out == "Hi.\n" and err == "Hmm.\n"  # not a terminal: no dim colour codes


def test_a_failed_turn_raises_after_printing(monkeypatch, tmp_path, capsys):
    script = "Hmm.</think>partial answer, then the engine fails"
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: ScriptedEngine([script], fail_after=5))
    with pytest.raises(GlmchatError, match="failed on purpose"):
        run(tmp_path, no_history=True)
    out = capsys.readouterr().out
    assert out.startswith("partial") and out.endswith("\n") and "fails" not in out  # the line is ended first


def printer(**kw) -> tuple[EventPrinter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return EventPrinter(out, err, **kw), out, err


def test_printer_one_handler_per_event_type():
    p, out, err = printer()
    call = ToolCall(name="read_file", arguments={"path": "a.txt"}, raw="")
    for ev in (TurnStarted(10, 0), Thinking("quiet"), Answer("Hello"), call,
               ToolResultEvent(call, "line one\nline two", True, "auto"), IncompleteToolCall(None, "<tool_call>read"),
               Notice("note"), TurnFailed("boom", "hint"), object()):
        p.handle(ev)
    assert out.getvalue() == "Hello"
    assert err.getvalue() == ('\n[tool call] read_file {"path": "a.txt"}\n'
                              "[tool auto] read_file: line one\n"
                              "\n[incomplete tool call, not run] <tool_call>read\n"
                              "note\n")
    assert p.answer == "Hello" and p.thinking_parts == ["quiet"] and p.failed.message == "boom"
    assert p.tool_calls == [{"name": "read_file", "arguments": {"path": "a.txt"}}]


def test_printer_json_mode_and_an_unfinished_thinking_line():
    p, out, err = printer(as_json=True, show_thinking=True)
    p.handle(Thinking("still thinking"))
    p.handle(ToolCall(name="x", arguments={}, raw=""))
    p.end_thinking_line()
    p.end_thinking_line()
    assert out.getvalue() == "" and err.getvalue() == "still thinking\n"


# ---- a context too large for memory: one line, exit 1 ---------------------------------------------


def test_context_larger_than_memory(smollm2_path, monkeypatch, capsys):
    """In-process: the memory probe says 64 MiB, so an 8,192-token context cannot fit."""
    from glmchat import cli
    from glmchat.engine import gguf_check

    monkeypatch.setattr(gguf_check, "total_ram_bytes", lambda: 64 * 2**20)
    with pytest.raises(SystemExit) as exc:
        cli.main(["ask", "--model", str(smollm2_path), "--ctx", "8192", "--no-history", "hi"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # what failed and what to do, on one line
    assert lines[0].startswith("glmchat: ") and "8,192-token context" in lines[0] and "--ctx" in lines[0]
