"""MCP in the TUI: /mcp lists the servers glmchat started and their tools; with tools on the model's
call of a server's read-only tool runs and its result is shown; no server configured: /mcp says how."""

from __future__ import annotations

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.mcp.listing import NONE_CONFIGURED
from glmchat.mcp.manager import running, start_servers, stop_servers
from glmchat.settings import load_settings
from glmchat.tools import Workspace
from tests.mcp.support import gone_within, pids, stdio_spec
from tests.tui_support import (
    SIZE,
    errors,
    make_app,
    notices,
    send,
    wait_for,
    wait_ready,
)


async def test_mcp_without_servers_says_how_to_add_one(tmp_path):
    stop_servers()
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/mcp")
        await pilot.press("enter")
        await wait_for(pilot, lambda: NONE_CONFIGURED in notices(app))


@pytest.mark.slow
async def test_mcp_lists_the_servers_and_a_turn_uses_one_of_their_tools(tmp_path):
    settings = load_settings()
    settings.mcp.servers = {"t": stdio_spec(tmp_path / "pids")}
    start_servers(settings)
    try:
        running().wait_ready()
        script = "Echo it.</think><tool_call>mcp__t__echo<arg_key>text</arg_key><arg_value>from the tui</arg_value></tool_call>"
        engine = ScriptedEngine(scripts=[script, "</think>It echoed."])
        ws = tmp_path / "ws"
        ws.mkdir()
        app = make_app(tmp_path, engine=engine, settings=settings, tools_enabled=True, workspace=Workspace(ws))
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(pilot, app)
            app.chat_screen.prompt.load_text("/mcp")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("t  [stdio]  ready" in n for n in notices(app)))
            listing = next(n for n in notices(app) if "t  [stdio]  ready" in n)
            assert "mcp__t__echo  read" in listing and "mcp__t__shout  execute" in listing
            await send(pilot, app, "echo this", timeout=30)
            assert "mcp__t__echo" in {t["function"]["name"] for t in engine.requests[0].tools}
            assert "echo:from the tui" in engine.requests[1].messages[-1]["content"]
    finally:
        started = pids(tmp_path / "pids")
        stop_servers()
    assert started and all(gone_within(pid) for pid in started)


@pytest.mark.slow
async def test_a_server_prompt_is_a_slash_command_whose_text_is_sent(tmp_path):
    settings = load_settings()
    settings.mcp.servers = {"t": stdio_spec(tmp_path / "pids")}
    start_servers(settings)
    try:
        running().wait_ready()
        engine = ScriptedEngine(scripts=["</think>Reviewed."])
        app = make_app(tmp_path, engine=engine, settings=settings)
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(pilot, app)
            await send(pilot, app, "/mcp__t__review app.py focus=style", timeout=30)
            assert engine.requests[-1].messages[-1]["content"] == "Please review app.py, looking for style."
            app.chat_screen.prompt.load_text("/mcp__t__review")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("needs path" in e.message for e in errors(app)))
    finally:
        stop_servers()


@pytest.mark.slow
async def test_mcp_disable_stops_a_server_and_enable_starts_it_again(tmp_path):
    settings = load_settings()
    settings.mcp.servers = {"t": stdio_spec(tmp_path / "pids")}
    start_servers(settings)
    try:
        running().wait_ready()
        app = make_app(tmp_path, settings=settings)
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(pilot, app)
            app.chat_screen.prompt.load_text("/mcp disable t")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(n.startswith("t  [stdio]  disabled") for n in notices(app)))
            first = pids(tmp_path / "pids")
            assert len(first) == 1 and gone_within(first[0])
            app.chat_screen.prompt.load_text("/mcp enable t")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(n.startswith("t  [stdio]  ready") and "mcp__t__echo" in n for n in notices(app)), timeout=30)
            assert len(pids(tmp_path / "pids")) == 2
            app.chat_screen.prompt.load_text("/mcp restart t")
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("not a /mcp command" in e.message for e in errors(app)))
    finally:
        started = pids(tmp_path / "pids")
        stop_servers()
    assert all(gone_within(pid) for pid in started)
