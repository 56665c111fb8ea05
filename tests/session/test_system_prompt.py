"""The system prompt: the built-in one (tools on) with the environment, AGENTS.md instructions (always),
the user's /system text last; stable from turn to turn (prefix cache); capped, FIFO-safe files."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from glmchat import agent_prompt
from glmchat.engine.scripted import ScriptedEngine
from glmchat.instructions import CAP
from glmchat.session import ChatSession, Notice
from glmchat.settings import config_dir, load_settings
from glmchat.tools import ToolRegistry, Workspace
from tests.fifo_support import call_within

DONE = "</think>Done."


def make_session(root, scripts=(DONE,), *, tools=True, system=None):
    engine = ScriptedEngine(list(scripts))
    s = ChatSession(engine, load_settings(), tools=ToolRegistry.builtin() if tools else None, tools_enabled=tools,
                    workspace=Workspace(root), system_prompt=system)
    return s, engine


def system_of(request) -> str:
    first = request.messages[0]
    assert first["role"] == "system", request.messages
    return first["content"]


@pytest.fixture
def no_git(monkeypatch):
    """Tests that need no git status (it would spawn a process): git is 'not installed'."""
    monkeypatch.setattr(agent_prompt, "git_summary", lambda root: None)


@pytest.fixture
def user_agents():
    path = config_dir() / "AGENTS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    yield path
    path.unlink(missing_ok=True)


def test_a_tool_turn_starts_with_the_workspace_and_the_agents_md(tmp_path, no_git):
    (tmp_path / "AGENTS.md").write_text("Run the tests with `make check`.\n")
    s, engine = make_session(tmp_path)
    list(s.send("fix the bug"))
    text = system_of(engine.requests[0])
    assert f"Workspace: {tmp_path.resolve()}" in text
    assert "Run the tests with `make check`." in text
    assert "edit_file" in text and "run_shell" in text  # how to use the tools offered
    assert text.index("# Environment") < text.index("make check")  # built-in first, then the instructions


def test_tools_off_sends_only_the_instructions_and_the_system_text(tmp_path):
    (tmp_path / "AGENTS.md").write_text("Answer in French.\n")
    s, engine = make_session(tmp_path, tools=False, system="Be terse.")
    list(s.send("hello"))
    text = system_of(engine.requests[0])
    assert "Answer in French." in text and text.endswith("Be terse.")
    assert "# Environment" not in text and "Workspace:" not in text


def test_without_instructions_tools_off_sends_no_system_message(tmp_path):
    s, engine = make_session(tmp_path, tools=False)
    list(s.send("hello"))
    assert engine.requests[0].messages[0]["role"] == "user"


def test_nested_agents_md_go_user_wide_then_outer_to_inner_then_system_text(tmp_path, user_agents):
    repo = tmp_path / "repo"
    inner = repo / "pkg" / "sub"
    inner.mkdir(parents=True)
    (repo / ".git").mkdir()
    (tmp_path / "AGENTS.md").write_text("ABOVE THE REPOSITORY\n")  # outside the repository: not read
    (repo / "AGENTS.md").write_text("OUTER RULES\n")
    (repo / "pkg" / "AGENTS.md").write_text("MIDDLE RULES\n")
    (inner / "AGENTS.md").write_text("INNER RULES\n")
    user_agents.write_text("USER RULES\n")
    s, engine = make_session(inner, tools=False, system="SYSTEM TEXT")
    list(s.send("hi"))
    text = system_of(engine.requests[0])
    order = [text.index(w) for w in ("USER RULES", "OUTER RULES", "MIDDLE RULES", "INNER RULES", "SYSTEM TEXT")]
    assert order == sorted(order)
    assert "ABOVE THE REPOSITORY" not in text


def test_outside_a_repository_only_the_workspace_agents_md_is_read(tmp_path):
    (tmp_path / "AGENTS.md").write_text("PARENT\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "AGENTS.md").write_text("WORKSPACE\n")
    s, engine = make_session(ws, tools=False)
    list(s.send("hi"))
    text = system_of(engine.requests[0])
    assert "WORKSPACE" in text and "PARENT" not in text


def test_a_long_agents_md_is_cut_with_a_notice(tmp_path):
    (tmp_path / "AGENTS.md").write_bytes(b"a" * (CAP - 1) + "é".encode() + b"TAIL-NOT-SENT" * 1000)
    s, engine = make_session(tmp_path, tools=False)
    events = list(s.send("hi"))
    text = system_of(engine.requests[0])
    assert "TAIL-NOT-SENT" not in text and "\ufffd" not in text  # cut at a character boundary
    assert "cut here: only its first 32.0 KiB" in text  # the model is told
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("AGENTS.md" in n and "only its first 32.0 KiB" in n for n in notices)  # so is the user
    events = list(s.send("again"))
    assert not any("AGENTS.md" in e.text for e in events if isinstance(e, Notice))  # once


def test_undecodable_bytes_are_replaced(tmp_path):
    (tmp_path / "AGENTS.md").write_bytes(b"use \xff\xfe tabs\n")
    s, engine = make_session(tmp_path, tools=False)
    list(s.send("hi"))
    assert "use \ufffd\ufffd tabs" in system_of(engine.requests[0])


def test_a_fifo_named_agents_md_is_skipped_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "AGENTS.md")
    s, engine = make_session(tmp_path, tools=False)
    events = call_within(lambda: list(s.send("hi")), tmp_path, limit=3.0)
    assert not isinstance(events, BaseException), events
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("FIFO" in n for n in notices)
    assert engine.requests[0].messages[0]["role"] == "user"


def test_a_symlink_out_of_the_project_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("PRIVATE KEY\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "AGENTS.md").symlink_to(secret)
    s, engine = make_session(ws, tools=False)
    list(s.send("hi"))
    assert all("PRIVATE KEY" not in (m.get("content") or "") for m in engine.requests[0].messages)


def test_the_system_prompt_is_byte_identical_across_turns(tmp_path, no_git, monkeypatch):
    (tmp_path / "AGENTS.md").write_text("Rules.\n")
    s, engine = make_session(tmp_path, scripts=[DONE, DONE])
    list(s.send("one"))
    monkeypatch.setattr(agent_prompt, "today", lambda: "2099-01-01")  # a turn after midnight
    list(s.send("two"))
    assert system_of(engine.requests[0]) == system_of(engine.requests[1])
    s.new()  # a new conversation takes the environment afresh
    list(s.send("three"))
    assert "2099-01-01" in system_of(engine.requests[-1])


def test_an_edited_agents_md_is_read_again(tmp_path):
    (tmp_path / "AGENTS.md").write_text("first version\n")
    s, engine = make_session(tmp_path, scripts=[DONE, DONE], tools=False)
    list(s.send("one"))
    (tmp_path / "AGENTS.md").write_text("second version, longer\n")
    list(s.send("two"))
    assert "first version" in system_of(engine.requests[0]) and "second version" in system_of(engine.requests[1])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_branch_and_status_are_taken_once(tmp_path):
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    s, engine = make_session(tmp_path, scripts=[DONE, DONE])
    list(s.send("one"))
    (tmp_path / "b.py").write_text("y = 2\n")  # the status changes between the turns
    list(s.send("two"))
    text = system_of(engine.requests[0])
    assert "branch trunk, 1 changed" in text and "a.py" in text
    assert system_of(engine.requests[1]) == text


def test_a_reopened_conversation_sends_the_system_prompt_it_started_with(tmp_path, no_git, monkeypatch):
    from glmchat.store import Store

    store = Store(tmp_path / "c.db")
    ws = tmp_path / "ws"
    ws.mkdir()
    engine = ScriptedEngine([DONE])
    first = ChatSession(engine, load_settings(), store=store, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(ws))
    list(first.send("one"))
    monkeypatch.setattr(agent_prompt, "today", lambda: "2099-01-01")  # reopened another day: its KV snapshot must still match
    again = ChatSession(engine, load_settings(), store=store, conversation_id=first.conversation_id,
                        tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(ws))
    assert system_of(again.build_request()) == system_of(engine.requests[0])
    fresh = ChatSession(engine, load_settings(), store=store, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(ws))
    assert "2099-01-01" in system_of(fresh.build_request())  # a new conversation: today's environment
