"""A hostile or broken server cannot make glmchat hold unbounded memory: an event-stream line without
a newline and a plain answer (GET /models) are read only up to a size limit, then refused with a
message that says what happened."""

from __future__ import annotations

import time

import pytest

from glmchat.engine.base import ChatRequest, Finished
from glmchat.engine.remote import RemoteEngine
from glmchat.errors import EngineError
from tests.scripted_sse import GLM, Flood, ScriptedServer

MAX_LINE = 8 * 1024 * 1024  # the limits README states
MAX_BODY = 4 * 1024 * 1024


def ask() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}])


def test_a_line_that_never_ends_is_cut_off_at_the_limit_with_a_clear_error():
    flood = Flood()  # `data: xxxx…` forever, no newline
    with ScriptedServer() as srv:
        srv.reply(flood)
        engine = RemoteEngine(srv.base_url, timeout=20)
        t0 = time.monotonic()
        items = []
        with pytest.raises(EngineError) as info:
            for item in engine.stream(ask()):
                items.append(item)
        took = time.monotonic() - t0
    assert "line of more than 8 MiB" in info.value.message and srv.base_url in info.value.message
    assert "glmchat stopped reading it" in info.value.message and info.value.hint
    assert isinstance(items[-1], Finished) and items[-1].usage.stop_reason == "error"
    # glmchat stopped reading at the limit: the server got out little more than the limit plus what
    # the sockets buffer (a reader without a limit keeps taking it until the timeout)
    assert flood.sent < MAX_LINE + 32 * 1024 * 1024
    assert took < 15


def test_a_models_list_larger_than_the_limit_is_refused_by_name():
    huge = {"id": GLM, "object": "model", "owned_by": "vllm", "padding": "x" * (MAX_BODY + 1024)}
    with ScriptedServer(models=[huge]) as srv:
        with pytest.raises(EngineError) as info:
            RemoteEngine(srv.base_url)
    assert "an answer to GET /models of more than 4 MiB" in info.value.message
    assert srv.base_url in info.value.message
