"""An editor that offers fs.readTextFile / fs.writeTextFile: read_file and write_file go through it.

The SDK client answers `fs/read_text_file` with a buffer that differs from the disk (an unsaved edit)
and records `fs/write_text_file`; the model sees the buffer, the write reaches the editor (not the disk),
and a path outside the workspace is refused without asking the editor.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

pytest.importorskip("acp")

from acp import text_block
from acp.schema import (
    ClientCapabilities,
    FileSystemCapabilities,
    ReadTextFileResponse,
    WriteTextFileResponse,
)

from tests.acp.acp_client import RecordingClient, glmchat_acp

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def quick_config(isolated_dirs):
    cfg = Path(os.environ["GLMCHAT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("[model]\nthreads = 1\n")


class EditorClient(RecordingClient):
    """Answers reads with an unsaved buffer and records writes."""

    def __init__(self) -> None:
        super().__init__("allow_once")
        self.reads: list[str] = []
        self.writes: list[tuple[str, str]] = []

    async def read_text_file(self, session_id: str, path: str, line: Any = None, limit: Any = None, **kw: Any) -> Any:
        self.reads.append(path)
        return ReadTextFileResponse(content="unsaved buffer line\n")

    async def write_text_file(self, session_id: str, path: str, content: str, **kw: Any) -> Any:
        self.writes.append((path, content))
        return WriteTextFileResponse()


def call(name: str, **args: str) -> SSE:
    return SSE(vllm_chunks(reasoning=["Go."], tools=[(name, [json.dumps(args)])]))


async def test_reads_and_writes_go_through_the_editor_inside_the_workspace_only(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.md").write_text("saved disk line\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    client = EditorClient()
    caps = ClientCapabilities(fs=FileSystemCapabilities(read_text_file=True, write_text_file=True))
    with ScriptedServer() as server:
        server.reply(call("read_file", path="notes.md"), call("write_file", path="out.md", content="new\n"),
                     call("read_file", path="../outside.txt"), SSE(vllm_chunks(content=["Done."])))
        async with glmchat_acp(client, "--endpoint", server.base_url, capabilities=caps) as conn:
            session = await conn.new_session(cwd=str(ws), mcp_servers=[])
            reply = await asyncio.wait_for(conn.prompt(session_id=session.session_id, prompt=[text_block("go")]), 120)
        chats = [r for r in server.requests if "messages" in r]
    assert reply.stop_reason == "end_turn"
    read_result, write_result, outside_result = (chats[i]["messages"][-1]["content"] for i in (1, 2, 3))
    assert "unsaved buffer line" in read_result and "saved disk line" not in read_result
    assert client.reads == [str(ws.resolve() / "notes.md")]  # the outside path was never asked for
    assert client.writes == [(str(ws.resolve() / "out.md"), "new\n")]
    assert not (ws / "out.md").exists() and "in the editor" in write_result  # the editor writes it, not glmchat
    assert "secret" not in outside_result
    assert [p[0].title for p in client.permissions][:1] == ["write_file out.md"]  # the same approval


async def test_without_the_capability_the_disk_is_used(tmp_path):
    (tmp_path / "notes.md").write_text("saved disk line\n")
    client = EditorClient()
    with ScriptedServer() as server:
        server.reply(call("read_file", path="notes.md"), SSE(vllm_chunks(content=["Done."])))
        async with glmchat_acp(client, "--endpoint", server.base_url) as conn:
            session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
            await asyncio.wait_for(conn.prompt(session_id=session.session_id, prompt=[text_block("go")]), 120)
        chats = [r for r in server.requests if "messages" in r]
    assert "saved disk line" in chats[1]["messages"][-1]["content"] and client.reads == []
