"""Run a `glmchat.serve` app with uvicorn on a thread, on a free port of 127.0.0.1, for the openai client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

try:  # the HTTP client the installed openai package uses (httpx2 from openai 3, httpx before)
    import httpx2 as httpx  # noqa: F401 - re-exported for the tests
except ImportError:  # pragma: no cover
    pass  # type: ignore[no-redef]

from glmchat.serve.app import Server
from glmchat.settings import Settings, load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(engine: Any, settings: Settings | None = None, **server_args: Any) -> Iterator[tuple[str, Server]]:
    """(base URL ending in /v1, the Server) while uvicorn serves it on a thread."""
    server = Server(engine, settings or load_settings(), **server_args)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(server.app(), host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", server
    finally:
        uv.should_exit = True
        thread.join(10)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                                                          "required": ["city"]}}}]


def collect_stream(client: Any, **kwargs: Any) -> tuple[str, str, list[dict[str, Any]], str | None, Any]:
    """(reasoning, content, tool calls, finish_reason, usage) of a streamed completion, deltas joined."""
    reasoning, content, calls, finish, usage = [], [], {}, None, None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            d = choice.delta.model_dump()
            reasoning.append(d.get("reasoning_content") or "")
            assert (d.get("reasoning") or "") == (d.get("reasoning_content") or "")
            content.append(d.get("content") or "")
            for tc in d.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"name": "", "arguments": "", "id": None})
                slot["id"] = slot["id"] or tc.get("id")
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            finish = choice.finish_reason or finish
    return "".join(reasoning), "".join(content), [calls[i] for i in sorted(calls)], finish, usage
