"""RemoteEngine against a real OpenAI-compatible server: llama-cpp-python's own, serving SmolLM2-135M.

The server is started once for this module on a free 127.0.0.1 port and stopped at the end.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Finished, RawText, SamplingParams, Started
from glmchat.engine.remote import RemoteEngine, list_models
from tests.llama_server import _server_importable, server  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(
        not _server_importable(),
        reason="llama-cpp-python's server is not installed (pip install 'llama-cpp-python[server]')",
    ),
    pytest.mark.slow,
]


def ask(text: str, **sampling: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingParams(**sampling))


def run(engine: RemoteEngine, request: ChatRequest, cancel: CancelToken | None = None) -> list[Any]:
    return list(engine.stream(request, cancel))


def test_models_and_info(server, smollm2_path):
    assert list_models(server) == [str(smollm2_path)]
    engine = RemoteEngine(server)
    assert engine.model == str(smollm2_path)
    assert engine.info.model == smollm2_path.stem
    assert engine.info.backend == "remote" and engine.info.where == server.split("/")[2]
    assert engine.info.thinking is False


def test_streaming_chat_with_usage(server):
    engine = RemoteEngine(server)
    items = run(engine, ask("Name three colours.", temperature=0.0, max_tokens=24, seed=1))
    assert isinstance(items[0], Started) and items[0].in_thinking is False
    assert isinstance(items[-1], Finished) and sum(isinstance(i, Finished) for i in items) == 1
    pieces = [i.text for i in items if isinstance(i, RawText)]
    assert len(pieces) >= 3  # streamed token by token, not in one block
    assert "".join(pieces).strip()
    usage = items[-1].usage
    assert 3 <= usage.completion_tokens <= 24
    assert usage.stop_reason in ("stop", "length")
    assert usage.prompt_tokens > 0
    assert usage.time_to_first_token > 0 and usage.generation_tokens_per_second > 0


def test_max_tokens_reports_length(server):
    items = run(RemoteEngine(server), ask("Tell me a long story about a dragon.", temperature=0.0, max_tokens=5))
    usage = items[-1].usage
    assert usage.stop_reason == "length" and usage.completion_tokens == 5


def test_grammar_is_forwarded(server):
    req = ChatRequest(messages=[{"role": "user", "content": "Is the sky green?"}], grammar='root ::= "yes" | "no"')
    items = run(RemoteEngine(server), req)
    assert "".join(i.text for i in items if isinstance(i, RawText)) in ("yes", "no")


def test_cancel_mid_stream_then_next_request_works(server):
    engine = RemoteEngine(server)
    cancel = CancelToken()
    items = []
    t = time.monotonic()
    for item in engine.stream(ask("Write a very long story about a dragon and a knight.", temperature=0.0, max_tokens=1500), cancel):
        items.append(item)
        if sum(isinstance(i, RawText) for i in items) == 3:
            cancel.cancel()
    assert isinstance(items[-1], Finished) and items[-1].usage.stop_reason == "cancelled"
    assert sum(isinstance(i, RawText) for i in items) == 3
    assert time.monotonic() - t < 5
    # the server noticed the closed stream and is free for the next request
    t = time.monotonic()
    items = run(engine, ask("Say hello.", temperature=0.0, max_tokens=6))
    assert items[-1].usage.stop_reason in ("stop", "length")
    assert "".join(i.text for i in items if isinstance(i, RawText)).strip()
    assert time.monotonic() - t < 10
