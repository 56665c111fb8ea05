"""/context (the next request by part, in tokens; /context full: the whole system prompt) and /init
(a normal turn asking the model to write AGENTS.md; with tools off it says how to turn them on)."""

from __future__ import annotations

import re

from glmchat import agent_prompt
from glmchat.engine.scripted import ScriptedEngine
from glmchat.tools import Workspace
from glmchat.tui.screens.text_view import TextViewScreen
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import SIZE, errors, make_app, notices, send, wait_for, wait_ready


def _row(text: str, name: str) -> int:
    m = re.search(rf"^\s+{re.escape(name)}\s+~?([\d,]+)", text, re.MULTILINE)
    assert m, f"no row {name!r} in:\n{text}"
    return int(m.group(1).replace(",", ""))


async def test_context_shows_each_part_with_its_tokens_and_the_full_prompt(tmp_path, monkeypatch):
    monkeypatch.setattr(agent_prompt, "git_summary", lambda root: None)  # no git process in a UI test
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "AGENTS.md").write_text("Always run `make lint` before you finish.\n" * 40)
    engine = ScriptedEngine(scripts=["</think>first answer"])
    app = make_app(tmp_path, engine=engine, tools_enabled=True, workspace=Workspace(ws))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hello there")
        app.chat_screen.prompt.load_text("/context")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.startswith("Next request:") for n in notices(app)), timeout=20)
        text = next(n for n in notices(app) if n.startswith("Next request:"))
        assert "~" in text  # the scripted engine has no tokenizer: estimates, marked
        parts = {name: _row(text, name) for name in ("system prompt (built-in)", "instructions (AGENTS.md)", "tool schemas", "history")}
        assert all(v > 0 for v in parts.values()), parts
        assert parts["instructions (AGENTS.md)"] > 300  # 40 lines of rules, about 4 characters a token
        total = int(re.search(r"Next request: ~([\d,]+)", text).group(1).replace(",", ""))
        assert sum(parts.values()) <= total <= sum(parts.values()) + 50  # the parts add up (plus the template)
        assert str(ws / "AGENTS.md") in text
        app.chat_screen.prompt.load_text("/context full")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextViewScreen))
        shown = app.screen.text
        assert f"Workspace: {ws.resolve()}" in shown and "make lint" in shown
        assert shown == engine.requests[0].messages[0]["content"]  # what was sent (the prompt did not change)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TextViewScreen))
        assert not errors(app)


async def test_init_starts_a_turn_asking_for_agents_md(tmp_path, monkeypatch):
    monkeypatch.setattr(agent_prompt, "git_summary", lambda root: None)
    engine = ScriptedEngine(scripts=["</think>I will look around first."])
    app = make_app(tmp_path, engine=engine, tools_enabled=True, workspace=Workspace(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "/init")
        prompt = engine.requests[0].messages[-1]["content"]
        assert engine.requests[0].messages[-1]["role"] == "user" and "AGENTS.md" in prompt
        assert engine.requests[0].tools  # a tool turn: the write goes through the normal approval
        assert any("AGENTS.md" in u.text for u in app.chat_screen.chat.query(UserMessage))


async def test_init_with_tools_off_says_how_to_turn_them_on(tmp_path):
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/init")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(errors(app)))
        assert "/tools on" in (errors(app)[0].hint or "") and not engine.requests
