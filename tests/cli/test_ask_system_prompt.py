"""`glmchat ask` sends the same system prompt as the TUI: the built-in one with tools on, the
workspace's AGENTS.md whether tools are on or not."""

from __future__ import annotations

import pytest

from glmchat import agent_prompt
from glmchat.commands import ask
from glmchat.engine.scripted import ScriptedEngine


@pytest.fixture
def engine(monkeypatch) -> ScriptedEngine:
    engine = ScriptedEngine(["</think>ok"])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    monkeypatch.setattr(agent_prompt, "git_summary", lambda root: None)
    return engine


@pytest.mark.parametrize("tools", [True, False])
def test_ask_sends_the_workspace_agents_md(engine, tmp_path, tools):
    (tmp_path / "AGENTS.md").write_text("Use tabs, never spaces.\n")
    assert ask.run_ask(ask.AskOptions(prompt="hi", workspace=tmp_path, tools=tools, no_history=True)) == 0
    system = engine.requests[0].messages[0]
    assert system["role"] == "system" and "Use tabs, never spaces." in system["content"]
    assert (f"Workspace: {tmp_path.resolve()}" in system["content"]) is tools
