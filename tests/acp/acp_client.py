"""A recording ACP client for tests: spawns `glmchat acp` over a real stdio pipe (the SDK's client side)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, spawn_agent_process
from acp.schema import AllowedOutcome, DeniedOutcome, RequestPermissionResponse

ROOT = Path(__file__).resolve().parents[2]


class RecordingClient:
    """Keeps every session update; answers permission requests with `answer` ("allow_once", "deny", …)."""

    def __init__(self, answer: str = "allow_once") -> None:
        self.answer = answer
        self.updates: list[Any] = []
        self.permissions: list[Any] = []
        self.first_message = asyncio.Event()

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)
        if getattr(update, "session_update", None) == "agent_message_chunk":
            self.first_message.set()

    async def request_permission(self, session_id: str, tool_call: Any, options: list[Any], **kwargs: Any) -> Any:
        self.permissions.append((tool_call, options))
        if self.answer == "cancelled":
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=self.answer))

    def on_connect(self, conn: Any) -> None:
        pass

    def kinds(self) -> list[str]:
        return [u.session_update for u in self.updates]

    def texts(self, kind: str) -> str:
        return "".join(u.content.text for u in self.updates if u.session_update == kind)


@contextlib.asynccontextmanager
async def glmchat_acp(client: RecordingClient, *args: str, capabilities: Any = None) -> AsyncIterator[Any]:
    """An initialized connection to a `glmchat acp ARGS` child process (the test's GLMCHAT_* dirs)."""
    async with spawn_agent_process(client, sys.executable, "-m", "glmchat", "acp", *args, cwd=ROOT,
                                   env=dict(os.environ)) as (conn, _process):
        init = await asyncio.wait_for(conn.initialize(protocol_version=PROTOCOL_VERSION, client_capabilities=capabilities), 60)
        assert init.protocol_version == PROTOCOL_VERSION
        assert init.agent_capabilities.load_session is True
        yield conn
