"""Agent modes: plan mode offers only read tools, asks for a plan and refuses a write/execute call the
model makes anyway; accept-edits runs edits inside the workspace unasked but still asks for commands;
`glmchat ask --mode plan` does the same headless."""

from __future__ import annotations

from pathlib import Path

import pytest

from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import UsageError
from glmchat.glm import ToolCall
from glmchat.session import ChatSession
from glmchat.settings import load_settings
from glmchat.tools import ApprovalPolicy, Decision, ToolRegistry, Workspace
from glmchat.tools.modes import MODES, PLAN_PROMPT, next_mode
from glmchat.tools.rules import Rule, RuleSet


def write_call(path: str, content: str = "hi") -> str:
    return (f"<tool_call>write_file<arg_key>path</arg_key><arg_value>{path}</arg_value>"
            f"<arg_key>content</arg_key><arg_value>{content}</arg_value></tool_call>")


def shell_call(command: str) -> str:
    return f"<tool_call>run_shell<arg_key>command</arg_key><arg_value>{command}</arg_value></tool_call>"


class Asker:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, call: ToolCall, risk: str, preview: str) -> Decision:
        self.asked.append(call.name)
        return Decision.allow_once()


def session_for(ws: Path, scripts: list[str], mode: str, asker=None) -> tuple[ChatSession, ScriptedEngine]:
    engine = ScriptedEngine(scripts)
    session = ChatSession(engine, load_settings(), tools=ToolRegistry.builtin(), tools_enabled=True,
                          workspace=Workspace(ws), approver=asker)
    session.approval.set_mode(mode)
    return session, engine


def offered_names(request) -> set[str]:
    return {t["function"]["name"] for t in request.tools or []}


def test_plan_mode_offers_only_read_tools_and_asks_for_a_plan(tmp_path):
    session, engine = session_for(tmp_path, ["</think>Plan: 1. read.", "x"], "plan")
    list(session.send("plan it"))
    request = engine.requests[0]
    names = offered_names(request)
    registry = ToolRegistry.builtin()
    assert names == {t.name for t in registry if t.risk == "read"} and names
    assert not names & {"write_file", "edit_file", "run_shell", "python", "web_fetch"}
    assert PLAN_PROMPT in request.messages[0]["content"]


def test_default_mode_offers_every_tool_and_no_plan_line(tmp_path):
    session, engine = session_for(tmp_path, ["</think>ok"], "default")
    list(session.send("hi"))
    assert {"write_file", "run_shell"} <= offered_names(engine.requests[0])
    assert PLAN_PROMPT not in engine.requests[0].messages[0]["content"]


def test_plan_mode_refuses_a_write_the_model_makes_anyway(tmp_path):
    asker = Asker()
    session, engine = session_for(tmp_path, ["Write.</think>" + write_call("a.txt"), "</think>Sorry."], "plan", asker)
    session.approval.policy = "auto"  # even with nothing asking, plan mode refuses
    events = list(session.send("write a.txt"))
    results = [e for e in events if type(e).__name__ == "ToolResultEvent"]
    assert [r.decision for r in results] == ["deny"] and not results[0].ok
    assert "Plan mode is on" in results[0].output
    assert not (tmp_path / "a.txt").exists() and asker.asked == []
    assert "Plan mode is on" in engine.requests[1].messages[-1]["content"]  # the model is told


def test_accept_edits_writes_unasked_but_asks_for_a_command(tmp_path):
    asker = Asker()
    script = "Go.</think>" + write_call("src/a.txt") + shell_call("echo hi")
    session, _ = session_for(tmp_path, [script, "</think>Done."], "accept-edits", asker)
    events = list(session.send("do it"))
    decisions = {e.call.name: e.decision for e in events if type(e).__name__ == "ToolResultEvent"}
    assert decisions["write_file"] == "auto" and (tmp_path / "src" / "a.txt").read_text() == "hi"
    assert asker.asked == ["run_shell"] and decisions["run_shell"] == "allow_once"


def test_accept_edits_still_asks_for_a_path_outside_the_workspace_and_obeys_rules(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    reg, asker = ToolRegistry.builtin(), Asker()
    rules = RuleSet((Rule("write_file", "secret/**", "deny", "config.toml"), Rule("edit_file", "**", "ask", "config.toml")))
    policy = ApprovalPolicy("auto-read", Workspace(ws), rules=rules, mode="accept-edits")
    outside = policy.decide(reg.get("write_file"), ToolCall("write_file", {"path": "../x", "content": "x"}, ""), asker)
    assert outside is not None and asker.asked == ["write_file"]
    denied = policy.decide(reg.get("write_file"), ToolCall("write_file", {"path": "secret/k", "content": "x"}, ""), asker)
    assert denied is not None and not denied.allowed and denied.rule
    policy.decide(reg.get("edit_file"), ToolCall("edit_file", {"path": "a", "old_string": "a", "new_string": "b"}, ""), asker)
    assert asker.asked == ["write_file", "edit_file"]


def test_modes_cycle_and_unknown_ones_are_refused():
    assert [next_mode(m) for m in MODES] == ["accept-edits", "plan", "default"]
    with pytest.raises(UsageError):
        ApprovalPolicy(mode="yolo")
    with pytest.raises(UsageError):
        ApprovalPolicy().set_mode("yolo")


def test_ask_mode_plan_offers_read_tools_and_refuses_writes_even_with_yes(tmp_path, monkeypatch, capsys):
    engine = ScriptedEngine(["Write.</think>" + write_call("planted.txt"), "</think>Here is my plan."])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    opts = ask.AskOptions(prompt="plan", tools=True, yes=True, workspace=tmp_path, no_history=True, mode="plan")
    assert ask.run_ask(opts) == 0
    assert not (tmp_path / "planted.txt").exists()
    assert "write_file" not in offered_names(engine.requests[0]) and "read_file" in offered_names(engine.requests[0])
    assert "Here is my plan." in capsys.readouterr().out


def test_ask_mode_accept_edits_writes_without_yes(tmp_path, monkeypatch):
    engine = ScriptedEngine(["Write.</think>" + write_call("notes.md") + shell_call("touch ran"), "</think>Done."])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    opts = ask.AskOptions(prompt="w", tools=True, workspace=tmp_path, no_history=True, mode="accept-edits")
    assert ask.run_ask(opts) == 0
    assert (tmp_path / "notes.md").read_text() == "hi"
    assert not (tmp_path / "ran").exists()  # a command still needs --yes headless


def test_ask_unknown_mode_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="Unknown mode"):
        ask.run_ask(ask.AskOptions(prompt="x", mode="yolo", no_history=True))
