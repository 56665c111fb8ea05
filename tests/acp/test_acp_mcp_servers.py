"""MCP servers an editor passes in session/new: connected for that session, their tools callable, gone after.

The SDK client passes the stdio test server (tests/fixtures/mcp_server.py) in `mcp_servers`; a scripted GLM
stream calls `mcp__t__echo`; the tool's result reaches the next request, and the server process ends when
the client closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.mcp.support import gone_within, pids, stdio_spec
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

pytest.importorskip("acp")

from acp import RequestError, text_block
from acp.schema import EnvVariable, McpServerStdio, SseMcpServer

from tests.acp.acp_client import RecordingClient, glmchat_acp

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def quick_config(isolated_dirs):
    cfg = Path(os.environ["GLMCHAT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("[mcp]\ntimeout = 30\n")


def stdio_server(pid_file: Path) -> McpServerStdio:
    spec = stdio_spec(pid_file)
    return McpServerStdio(name="t", command=spec["command"], args=spec["args"],
                          env=[EnvVariable(name=k, value=v) for k, v in spec["env"].items()])


async def test_a_stdio_server_from_new_session_serves_tools_and_ends_with_the_client(tmp_path):
    client = RecordingClient("allow_once")
    call = json.dumps({"text": "from the editor"})
    with ScriptedServer() as server:
        server.reply(SSE(vllm_chunks(reasoning=["Echo it."], tools=[("mcp__t__echo", [call])])),
                     SSE(vllm_chunks(content=["It echoed."])))
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[stdio_server(tmp_path / "pids")])
            reply = await asyncio.wait_for(conn.prompt(session_id=session.session_id, prompt=[text_block("echo")]), 120)
            started = pids(tmp_path / "pids")
            assert started and not any(gone_within(pid, 0.2) for pid in started)  # running during the session
        chats = [r for r in server.requests if "messages" in r]
    assert reply.stop_reason == "end_turn"
    assert "mcp__t__echo" in {t["function"]["name"] for t in chats[0]["tools"]}
    assert chats[1]["messages"][-1]["role"] == "tool"
    assert "echo:from the editor" in chats[1]["messages"][-1]["content"]
    assert all(gone_within(pid, 10) for pid in started)  # no server outlives the agent


async def test_an_sse_server_is_refused_with_invalid_params_and_the_agent_keeps_serving(tmp_path):
    client = RecordingClient()
    with ScriptedServer() as server:
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            with pytest.raises(RequestError) as refused:
                await conn.new_session(cwd=str(tmp_path), mcp_servers=[
                    SseMcpServer(name="s", url="http://127.0.0.1:9/sse", headers=[], type="sse")])
            assert refused.value.code == -32602 and "SSE" in refused.value.data["message"]
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
    assert session.session_id


async def test_the_users_own_mcp_servers_serve_tools_in_editor_sessions_and_end_with_the_client(tmp_path):
    spec = stdio_spec(tmp_path / "user-pids")
    (Path(os.environ["GLMCHAT_CONFIG_DIR"]) / "config.toml").write_text(
        "[mcp]\ntimeout = 30\n\n[mcp.servers.mine]\n"
        f"command = {json.dumps(spec['command'])}\nargs = {json.dumps(spec['args'])}\n"
        f"env = {{ MCP_TEST_PID_FILE = {json.dumps(spec['env']['MCP_TEST_PID_FILE'])} }}\n")
    client = RecordingClient("allow_once")
    call = json.dumps({"text": "from config.toml"})
    with ScriptedServer() as server:
        server.reply(SSE(vllm_chunks(reasoning=["Echo it."], tools=[("mcp__mine__echo", [call])])),
                     SSE(vllm_chunks(content=["It echoed."])))
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            reply = await asyncio.wait_for(conn.prompt(session_id=session.session_id, prompt=[text_block("echo")]), 120)
            started = pids(tmp_path / "user-pids")
            assert started and not any(gone_within(pid, 0.2) for pid in started)
        chats = [r for r in server.requests if "messages" in r]
    assert reply.stop_reason == "end_turn"
    assert "mcp__mine__echo" in {t["function"]["name"] for t in chats[0]["tools"]}
    assert "echo:from config.toml" in chats[1]["messages"][-1]["content"]
    assert all(gone_within(pid, 10) for pid in started)  # no server outlives the agent
