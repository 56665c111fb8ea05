"""`glmchat mcp list --json` and `glmchat ask --tools --yes` with a real MCP server (a child process
each run), and no server process left once glmchat exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.mcp.support import gone_within, pids, stdio_spec
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

pytestmark = pytest.mark.slow


def write_config(tmp_path, extra: str = "") -> None:
    spec = stdio_spec(tmp_path / "pids")
    config = os.environ["GLMCHAT_CONFIG_DIR"]
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "config.toml"), "w") as f:
        f.write("[mcp]\ntimeout = 30\n\n[mcp.servers.t]\n"
                f"command = {json.dumps(spec['command'])}\nargs = {json.dumps(spec['args'])}\n"
                f"env = {{ MCP_TEST_PID_FILE = {json.dumps(spec['env']['MCP_TEST_PID_FILE'])} }}\n" + extra)


def glmchat(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glmchat", *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_mcp_list_json_lists_the_servers_and_their_tools(tmp_path):
    write_config(tmp_path, '\n[mcp.servers.off]\ncommand = "x"\nenabled = false\n')
    done = glmchat("mcp", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["t"]["status"] == "ready" and rows["t"]["transport"] == "stdio"
    tools = {tool["name"]: tool["risk"] for tool in rows["t"]["tools"]}
    assert tools["mcp__t__echo"] == "read" and tools["mcp__t__shout"] == "execute"
    assert rows["off"]["status"] == "disabled" and rows["off"]["tools"] == []
    started = pids(tmp_path / "pids")
    assert started and all(gone_within(pid) for pid in started)


def test_mcp_list_says_which_server_failed(tmp_path):
    write_config(tmp_path, '\n[mcp.servers.gone]\ncommand = "glmchat-no-such-mcp-server"\n')
    done = glmchat("mcp", "list")
    assert done.returncode == 1
    assert "gone  [stdio]  failed (command not found: glmchat-no-such-mcp-server)" in done.stdout
    assert "mcp__t__echo  read" in done.stdout


def test_ask_with_tools_and_yes_uses_an_mcp_tool_end_to_end(tmp_path):
    write_config(tmp_path)
    raw = ("I will shout.</think><tool_call>mcp__t__shout<arg_key>text</arg_key>"
           "<arg_value>hello mcp</arg_value></tool_call>")
    with ScriptedServer() as server:
        server.reply(SSE(vllm_chunks(content=[raw])), SSE(vllm_chunks(reasoning=["Done."], content=["It said HELLO MCP!"])))
        done = glmchat("ask", "--endpoint", server.base_url, "--tools", "--yes", "--no-history", "--jsonl",
                       "shout hello mcp", cwd=tmp_path)
        chats = [r for r in server.requests if "messages" in r]
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    result = next(line for line in lines if line["type"] == "tool_result")
    assert result["name"] == "mcp__t__shout" and result["ok"] is True
    assert "mcp__t__shout" in {t["function"]["name"] for t in chats[0]["tools"]}
    assert chats[1]["messages"][-1]["role"] == "tool" and "HELLO MCP!" in chats[1]["messages"][-1]["content"]
    started = pids(tmp_path / "pids")
    assert started and all(gone_within(pid) for pid in started)  # no server outlives glmchat ask


def test_a_header_secret_is_read_from_the_environment_and_never_printed(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_config(tmp_path, f'\n[mcp.servers.remote]\nurl = "http://127.0.0.1:{port}/mcp"\n'
                           'headers_env = { Authorization = "GLMCHAT_TEST_MCP_TOKEN" }\n')
    env = dict(os.environ, GLMCHAT_TEST_MCP_TOKEN="Bearer s3cret-value")
    done = subprocess.run([sys.executable, "-m", "glmchat", "mcp", "list", "--json"], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert done.returncode == 1 and rows["remote"]["status"] == "failed" and rows["t"]["status"] == "ready"
    assert "s3cret" not in done.stdout + done.stderr


def test_doctor_lists_the_servers_and_whether_they_start(tmp_path):
    write_config(tmp_path, '\n[mcp.servers.gone]\ncommand = "glmchat-no-such-mcp-server"\n')
    done = glmchat("doctor")
    assert "MCP server t [stdio]: ready · 5 tools" in done.stdout, done.stdout + done.stderr
    assert "MCP server gone [stdio]: failed (command not found: glmchat-no-such-mcp-server)" in done.stdout
    started = pids(tmp_path / "pids")
    assert started and all(gone_within(pid) for pid in started)
