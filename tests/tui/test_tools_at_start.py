"""`glmchat --tools` (or `[tools] enabled = true`) really turns tools on from the first request: the
app starts as cli.py starts it — tools enabled, no registry given — and the first request already
offers the built-in tools' schemas, as the status bar says."""

from __future__ import annotations

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tools import ToolRegistry, Workspace
from tests.tui_support import SIZE, make_app, wait_for, wait_ready


async def test_first_request_after_starting_with_tools_carries_their_schemas(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, tools_enabled=True, workspace=Workspace(ws))  # as `glmchat --tools`
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        assert "tools on" in str(app.chat_screen.status.status_text())
        app.chat_screen.prompt.load_text("list the files")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
    first = engine.requests[0]
    offered = {t["function"]["name"] for t in first.tools or []}
    assert offered == set(ToolRegistry.builtin().names())
    assert {"read_file", "write_file", "run_shell"} <= offered
