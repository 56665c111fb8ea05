"""`glmchat ask "/mcp__<server>__<prompt> args"`: the prompt of one of the user's [mcp.servers] becomes the
question (as the TUI's slash command does), with tools off too; an unknown prompt exits 2 and names the
ones offered; no server process outlives the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mcp.support import gone_within, pids, stdio_spec
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

pytestmark = pytest.mark.slow
pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pid_file(isolated_dirs, tmp_path) -> Path:
    spec = stdio_spec(tmp_path / "pids")
    config = Path(os.environ["GLMCHAT_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        "[mcp]\ntimeout = 30\n\n[mcp.servers.t]\n"
        f"command = {json.dumps(spec['command'])}\nargs = {json.dumps(spec['args'])}\n"
        f"env = {{ MCP_TEST_PID_FILE = {json.dumps(spec['env']['MCP_TEST_PID_FILE'])} }}\n")
    return tmp_path / "pids"


def ask(base_url: str, *question: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "glmchat", "ask", "--endpoint", base_url, "--no-history", *question],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_an_mcp_prompt_is_the_question(pid_file):
    with ScriptedServer() as server:
        server.reply(SSE(vllm_chunks(reasoning=["A review."], content=["Reviewed."])))
        res = ask(server.base_url, "/mcp__t__review src/app.py focus=naming")
        chats = [r for r in server.requests if "messages" in r]
    assert res.returncode == 0, res.stderr
    assert "Reviewed." in res.stdout
    assert chats[0]["messages"][-1]["content"] == "Please review src/app.py, looking for naming."
    started = pids(pid_file)
    assert started and all(gone_within(pid, 10) for pid in started)


def test_an_unknown_prompt_exits_2_naming_the_offered_ones(pid_file):
    with ScriptedServer() as server:
        res = ask(server.base_url, "/mcp__t__nothing here")
        assert not [r for r in server.requests if "messages" in r]  # nothing was sent
    assert res.returncode == 2, res.stderr
    assert "No MCP server offers the prompt /mcp__t__nothing" in res.stderr and "/mcp__t__review" in res.stderr
    assert "Traceback" not in res.stderr
    assert all(gone_within(pid, 10) for pid in pids(pid_file))
