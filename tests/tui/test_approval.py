"""Tool approval in the TUI: the approval screen blocks the turn until the user allows, allows for the
session or denies (with a message), and a tool call's block in a real turn."""

from __future__ import annotations

import threading

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.widgets.tool_block import ToolBlock
from tests.tui_support import SIZE, make_app, wait_for, wait_ready


@pytest.mark.parametrize("key,decision", [("a", "allow_once"), ("s", "allow_session"), ("d", "deny")])
async def test_approver_blocks_until_the_user_decides(tmp_path, key, decision):
    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        result = {}
        call = ToolCall("write_file", {"path": "a.txt", "content": "hi"}, "")
        t = threading.Thread(target=lambda: result.setdefault("r", app.chat_screen.turns.approve(call, "write", "--- a.txt\n+++ a.txt\n+hi")))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert not result
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "write_file" in str(app.screen.query_one(".approval-title").render())
        assert "a.txt" in text and "+hi" in text
        await pilot.press(key)
        await pilot.pause()
        t.join(5)
        assert result["r"].decision == decision


async def test_deny_with_message(tmp_path):
    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        result = {}
        call = ToolCall("run_shell", {"command": "rm -rf /"}, "")
        t = threading.Thread(target=lambda: result.setdefault("r", app.chat_screen.turns.approve(call, "execute", "")))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("m")
        assert app.focused is app.screen.query_one("#deny-message")
        await pilot.press(*"no thanks", "enter")
        t.join(5)
        assert result["r"].decision == "deny" and result["r"].message == "no thanks"


async def test_tool_call_block_and_approval_in_a_real_turn(tmp_path):
    tools = pytest.importorskip("glmchat.tools")
    if not hasattr(tools, "ToolRegistry"):
        pytest.skip("glmchat.tools does not export its API yet")
    ws = tmp_path / "ws"
    ws.mkdir()
    script = (
        "I will write the file.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>note.txt</arg_value>"
        "<arg_key>content</arg_key><arg_value>hello</arg_value></tool_call>"
    )
    engine = ScriptedEngine(scripts=[script, "</think>Done: I wrote note.txt."])
    app = make_app(
        tmp_path, engine=engine, tools=tools.ToolRegistry.builtin(), tools_enabled=True, workspace=tools.Workspace(ws)
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("write a note")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        block = app.chat_screen.chat.query_one(ToolBlock)
        assert block.tool_name == "write_file" and block.arguments["path"] == "note.txt"
        assert "allowed once" in str(block.query_one(".tool-output").render())
        assert (ws / "note.txt").read_text() == "hello"
        assert app.chat_screen.answers()[-1] == "Done: I wrote note.txt."
