"""`glmchat ask --jsonl`: one JSON object per line as the turn happens (thinking, answer deltas,
tool_call, approval, tool_result, usage, done), each flushed; --json and --jsonl exclude each other."""

from __future__ import annotations

import io
import json

import pytest

from glmchat import cli
from glmchat.commands import ask
from glmchat.commands.jsonl_printer import JsonlPrinter
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ModelError, UsageError
from glmchat.glm import Answer, ToolCall
from glmchat.session_events import TurnFailed

WRITE = ("Write it.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>out.txt</arg_value>"
         "<arg_key>content</arg_key><arg_value>hello\n</arg_value></tool_call>")
DONE = "Done.</think>The file is written."


def run_jsonl(tmp_path, monkeypatch, capsys, scripts, **options) -> tuple[int, list[dict], str]:
    engine = ScriptedEngine(scripts)
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    code = ask.run_ask(ask.AskOptions(prompt="write hello", workspace=tmp_path, no_history=True, as_jsonl=True, **options))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_a_tool_turn_is_reported_line_by_line(tmp_path, monkeypatch, capsys):
    code, lines, err = run_jsonl(tmp_path, monkeypatch, capsys, [WRITE, DONE], tools=True, yes=True)
    assert code == 0 and err == ""
    kinds = [line["type"] for line in lines]
    for kind in ("thinking", "tool_call", "approval", "tool_result", "answer", "usage", "done"):
        assert kind in kinds, kind
    assert kinds.index("tool_call") < kinds.index("approval") < kinds.index("tool_result") < kinds.index("answer")
    assert kinds[-1] == "done" and kinds.count("done") == 1
    call = lines[kinds.index("tool_call")]
    assert call["name"] == "write_file" and call["arguments"] == {"path": "out.txt", "content": "hello\n"}
    result = lines[kinds.index("tool_result")]
    assert result["ok"] is True and result["decision"] == "auto" and result["name"] == "write_file"
    assert "".join(line["text"] for line in lines if line["type"] == "answer") == "The file is written."
    assert lines[-1]["status"] == "complete" and lines[-1]["answer"] == "The file is written."
    usage = [line for line in lines if line["type"] == "usage"]
    assert usage[-1]["completion_tokens"] > 0
    assert (tmp_path / "out.txt").read_text() == "hello\n"


def test_a_denied_call_says_so_in_its_approval_line(tmp_path, monkeypatch, capsys):
    _, lines, _ = run_jsonl(tmp_path, monkeypatch, capsys, [WRITE, DONE], tools=True)
    approval = [line for line in lines if line["type"] == "approval"]
    assert approval == [{"type": "approval", "name": "write_file", "decision": "deny"}]
    assert not (tmp_path / "out.txt").exists()


class Flushes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.at_flush: list[str] = []

    def flush(self) -> None:
        self.at_flush.append(self.getvalue())


def test_each_line_is_flushed_whole_and_terminal_text_is_escaped():
    out = Flushes()
    out.isatty = lambda: True  # type: ignore[method-assign]
    printer = JsonlPrinter(out, io.StringIO())
    printer.handle(Answer("a\x9b31mb\u202e"))
    printer.handle(ToolCall("read_file", {"path": "x"}, ""))
    printer.handle(TurnFailed("boom", "try again"))
    assert all(text.endswith("\n") for text in out.at_flush) and len(out.at_flush) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"type": "answer", "text": "a\x9b31mb\u202e"}  # the same value...
    assert "\x9b" not in out.getvalue() and "\\u009b" in out.getvalue()  # ...with no raw control on the terminal
    assert lines[2] == {"type": "error", "message": "boom", "hint": "try again"}


def test_json_and_jsonl_together_are_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--jsonl"):
        ask.run_ask(ask.AskOptions(prompt="x", as_json=True, as_jsonl=True, no_history=True))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ask", "--json", "--jsonl", "x"])
    assert exit_info.value.code == 2


def test_a_model_that_cannot_be_opened_ends_with_error_and_done_lines(tmp_path, monkeypatch, capsys):
    def refuse(settings, **kw):
        raise ModelError("The model file is damaged.", "Download it again.")

    monkeypatch.setattr(ask, "open_engine", refuse)
    with pytest.raises(ModelError):
        ask.run_ask(ask.AskOptions(prompt="x", workspace=tmp_path, no_history=True, as_jsonl=True))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"type": "error", "message": "The model file is damaged.", "hint": "Download it again."},
                     {"type": "done", "status": "error", "conversation_id": None, "answer": ""}]
