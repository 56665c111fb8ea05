"""RemoteEngine against the scripted vLLM / SGLang SSE server: stream mapping, request body, faults."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from glmchat.engine.base import (
    AnswerText,
    Benchmarkable,
    CancelToken,
    ChatRequest,
    Engine,
    Finished,
    RawText,
    ReasoningText,
    SamplingParams,
    SnapshotCapable,
    Started,
    Tokenizing,
    ToolCallDelta,
)
from glmchat.engine.remote import RemoteEngine, build_body, list_models
from glmchat.errors import EngineError, GlmchatError
from glmchat.settings import BUILTIN_PROFILES, RemoteSettings
from tests.scripted_sse import GLM, SSE, Error, Hang, ScriptedServer, openai_error, sglang_chunks, vllm_chunks

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def srv():
    with ScriptedServer() as s:
        yield s


def ask(text: str = "Weather in Beijing?", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **kw)


def collect(engine: RemoteEngine, request: ChatRequest, cancel: CancelToken | None = None) -> tuple[list[Any], EngineError | None]:
    items: list[Any] = []
    try:
        for item in engine.stream(request, cancel):
            items.append(item)
    except EngineError as exc:
        return items, exc
    return items, None


def check_frame(items: list[Any]) -> None:
    """Protocol: one Started first, exactly one Finished last."""
    assert isinstance(items[0], Started)
    assert isinstance(items[-1], Finished)
    assert sum(isinstance(i, Started) for i in items) == 1
    assert sum(isinstance(i, Finished) for i in items) == 1


def texts(items: list[Any], kind: type) -> str:
    return "".join(i.text for i in items if isinstance(i, kind))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- stream shapes ---------------------------------------------------------------------------------


def test_vllm_reasoning_answer_and_fragmented_tool_call(srv):
    srv.reply(SSE(vllm_chunks(
        reasoning=["The user ", "wants weather."],
        content=["Let me check", "."],
        tools=[("get_weather", ['{"city"', ': "Bei', 'jing"}'])],
        usage=(321, 40),
        cached=300,
    )))
    engine = RemoteEngine(srv.base_url)
    assert isinstance(engine, Engine)
    items, err = collect(engine, ask(tools=[WEATHER_TOOL]))
    assert err is None
    check_frame(items)
    assert items[0].in_thinking is False  # the server splits reasoning off
    assert texts(items, ReasoningText) == "The user wants weather."
    assert texts(items, AnswerText) == "Let me check."
    assert not any(isinstance(i, RawText) for i in items)
    calls = [i for i in items if isinstance(i, ToolCallDelta)]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].arguments == {"city": "Beijing"}
    assert calls[0].id and calls[0].id.startswith("chatcmpl-tool-")
    # order: reasoning, then answer, then the call
    kinds = [type(i).__name__ for i in items]
    assert kinds.index("ToolCallDelta") > max(k for k, n in enumerate(kinds) if n == "AnswerText")
    usage = items[-1].usage
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens) == (321, 300, 40)
    assert usage.stop_reason == "stop"
    assert usage.time_to_first_token > 0 and usage.generation_time >= 0


def test_sglang_reasoning_content_and_two_tool_calls(srv):
    srv.reply(SSE(sglang_chunks(
        reasoning=["Two cities", " to look up."],
        tools=[("get_weather", ['{"city": ', '"Paris"}']), ("get_weather", ['{"city": "Rome"}'])],
        usage=(50, 30),
    )))
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask(tools=[WEATHER_TOOL]))
    assert err is None
    check_frame(items)
    assert texts(items, ReasoningText) == "Two cities to look up."
    assert texts(items, AnswerText) == "" and texts(items, RawText) == ""
    calls = [i for i in items if isinstance(i, ToolCallDelta)]
    assert [c.arguments for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert all(c.id and c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    usage = items[-1].usage
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens) == (50, 0, 30)


def test_older_vllm_reasoning_content_key(srv):
    srv.reply(SSE(vllm_chunks(reasoning=["hm"], content=["Yes."], reasoning_key="reasoning_content")))
    items, err = collect(RemoteEngine(srv.base_url), ask())
    assert err is None
    assert texts(items, ReasoningText) == "hm" and texts(items, AnswerText) == "Yes."


def test_server_without_reasoning_parser_gives_raw_text_in_thinking(srv):
    """No reasoning deltas: content is raw model text and the prompt ended inside <think>."""
    raw = ["Think", "ing.</th", "ink>Answer", " text"]
    srv.reply(SSE(vllm_chunks(content=raw)), SSE(vllm_chunks(content=["Plain answer"])))
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask())
    assert err is None
    check_frame(items)
    assert items[0].in_thinking is True
    assert texts(items, RawText) == "Thinking.</think>Answer text"
    assert not any(isinstance(i, (AnswerText, ReasoningText)) for i in items)
    # with thinking off the prompt ends in </think>: everything is answer
    items, _ = collect(engine, ask(enable_thinking=False))
    assert items[0].in_thinking is False and texts(items, RawText) == "Plain answer"
    assert srv.requests[-1]["chat_template_kwargs"]["enable_thinking"] is False


def test_engine_remembers_a_server_that_splits_reasoning(srv):
    """After a stream with reasoning deltas, an answer with no reasoning is not taken for thinking."""
    srv.reply(SSE(vllm_chunks(reasoning=["r"], content=["a"])), SSE(vllm_chunks(content=["Just the answer."])))
    engine = RemoteEngine(srv.base_url)
    collect(engine, ask())
    items, err = collect(engine, ask())
    assert err is None
    assert items[0].in_thinking is False
    assert texts(items, RawText) == "Just the answer."


def test_non_glm_model_never_starts_in_thinking():
    with ScriptedServer(models=[{"id": "smollm2", "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx_train": 8192}}]) as s:
        s.reply(SSE(vllm_chunks(content=["hi"], model="smollm2")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is False
        assert engine.info.n_ctx == 8192 and engine.info.n_ctx_train == 8192
        items, _ = collect(engine, ask())
        assert items[0].in_thinking is not True and texts(items, RawText) == "hi"  # None: the stream decides


@pytest.mark.parametrize(
    "model_id, thinking",
    [
        ("/home/u/glm-models/llama-3.gguf", False),  # "glm" only in a folder name
        ("C:\\models\\glm\\smollm2-q8_0.gguf", False),
        ("GLM-4.7-Flash", True),
        ("zai-org/GLM-4.7-Flash", True),
        ("/home/u/models/GLM-4.7-Flash-UD-Q4_K_XL.gguf", True),
    ],
)
def test_thinking_is_guessed_from_the_model_name_not_its_folder(model_id, thinking):
    with ScriptedServer(models=[{"id": model_id, "object": "model", "owned_by": "llamacpp"}]) as s:
        engine = RemoteEngine(s.base_url)
        assert engine.model == model_id
        assert engine.info.thinking is thinking
        assert not isinstance(engine, (SnapshotCapable, Tokenizing, Benchmarkable))  # no optional capabilities


def test_finish_reason_length_and_bad_tool_json(srv):
    srv.reply(
        SSE(vllm_chunks(content=["cut sh"], finish_reason="length")),
        SSE(vllm_chunks(tools=[("get_weather", ['{"city": "Par'])], finish_reason="tool_calls")),
    )
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask())
    assert err is None and items[-1].usage.stop_reason == "length"
    items, err = collect(engine, ask())
    assert err is None
    (call,) = [i for i in items if isinstance(i, ToolCallDelta)]
    assert call.arguments == {"_raw": '{"city": "Par'}


def test_stream_without_usage_counts_chunks(srv):
    srv.reply(SSE(vllm_chunks(content=["a", "b", "c"], usage=None)))
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask())
    assert err is None
    usage = items[-1].usage
    assert usage.completion_tokens == 3
    assert usage.prompt_tokens == engine.count_tokens(ask())  # estimated


def test_mid_stream_error_chunk(srv):
    chunks = vllm_chunks(content=["Part"], usage=None)[:2] + [openai_error("out of KV cache", "InternalServerError", 500)]
    srv.reply(SSE(chunks, done=False))
    items, err = collect(RemoteEngine(srv.base_url), ask())
    assert err is not None and "out of KV cache" in err.message
    assert texts(items, RawText) == "Part"
    check_frame(items)
    assert items[-1].usage.stop_reason == "error"


# ---- the request -------------------------------------------------------------------------------------


def test_request_body_carries_profile_thinking_tools_and_history(srv):
    engine = RemoteEngine(srv.base_url)
    history = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "Need the tool.",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    tool = BUILTIN_PROFILES["tool"]
    sampling = SamplingParams(**{**tool.to_dict(), "max_tokens": 256, "seed": 7})
    req = ChatRequest(messages=history, sampling=sampling, tools=[WEATHER_TOOL], enable_thinking=True, clear_thinking=False)
    items, err = collect(engine, req)
    assert err is None
    body = srv.requests[-1]
    assert body["model"] == GLM and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "clear_thinking": False}
    assert (body["temperature"], body["top_p"], body["min_p"], body["top_k"]) == (0.7, 1.0, 0.01, 40)
    assert body["repeat_penalty"] == 1.0 and body["repetition_penalty"] == 1.0
    collect(engine, ChatRequest(messages=history, sampling=SamplingParams(top_k=0)))
    assert srv.requests[-1]["top_k"] == -1  # the scripted server says it is vLLM, which spells "off" -1
    assert body["max_tokens"] == 256 and body["seed"] == 7
    assert body["tools"] == [WEATHER_TOOL]
    sent = body["messages"][1]
    assert sent["reasoning_content"] == "Need the tool."
    assert sent["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    # the caller's history is untouched (still a mapping)
    assert history[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}


def test_body_defaults_and_top_k_off():
    body = build_body(ChatRequest(messages=[], sampling=SamplingParams(top_k=0)), "m")
    assert body["top_k"] == 0  # llama.cpp servers: 0 = off (llama-cpp-python rejects -1)
    assert build_body(ChatRequest(messages=[], sampling=SamplingParams(top_k=0)), "m", top_k_off=-1)["top_k"] == -1
    assert "max_tokens" not in body and "seed" not in body and "tools" not in body and "grammar" not in body


def test_model_choice_and_info(srv):
    engine = RemoteEngine(srv.base_url.removesuffix("/v1"))  # /v1 is added when the URL has no path
    assert engine.info.path == srv.base_url
    assert engine.info.model == GLM and engine.info.backend == "remote"
    assert engine.info.where == f"127.0.0.1:{srv.port}"
    assert engine.info.n_ctx == 202752 and engine.info.thinking is True
    assert list_models(srv.base_url) == [GLM]
    explicit = RemoteEngine(srv.base_url, model=GLM, timeout=5)
    collect(explicit, ask())
    assert srv.requests[-1]["model"] == GLM


def test_count_tokens_is_an_estimate_that_grows(srv):
    engine = RemoteEngine(srv.base_url)
    short, long = engine.count_tokens(ask("hi")), engine.count_tokens(ask("hi " * 400))
    assert 0 < short < long and 250 < long < 450


def test_from_settings_reads_the_key_from_the_environment(monkeypatch):
    with ScriptedServer(api_key="s3cret") as s:
        monkeypatch.setenv("MY_GLM_KEY", "s3cret")
        engine = RemoteEngine.from_settings(RemoteSettings(base_url=s.base_url, api_key_env="MY_GLM_KEY", timeout=5))
        items, err = collect(engine, ask())
        assert err is None and texts(items, RawText) == "Hello!"
        assert s.headers[-1]["Authorization"] == "Bearer s3cret"
    with pytest.raises(EngineError, match="No endpoint"):
        RemoteEngine.from_settings(RemoteSettings())


# ---- faults ------------------------------------------------------------------------------------------


def test_bad_url():
    with pytest.raises(EngineError, match="Not an endpoint URL"):
        RemoteEngine("ftp://example.org/v1")


def test_connection_refused():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(EngineError) as info:
        RemoteEngine(url)
    assert "connection refused" in info.value.message and url in info.value.message
    assert "Is the server running?" in info.value.hint
    with pytest.raises(EngineError, match="connection refused"):
        list_models(url)
    # with a model named the engine is built; the stream reports the fault inside the protocol
    engine = RemoteEngine(url, model=GLM, timeout=5)
    items, err = collect(engine, ask())
    assert err is not None and "connection refused" in err.message
    check_frame(items)
    assert items[-1].usage.stop_reason == "error"


def test_unauthorised_names_the_env_var():
    with ScriptedServer(api_key="right") as s:
        with pytest.raises(EngineError) as info:
            RemoteEngine(s.base_url)
        assert "needs an API key" in info.value.message and "401" in info.value.message
        assert "GLMCHAT_API_KEY" in info.value.hint
        engine = RemoteEngine(s.base_url, api_key="wrong", model=GLM, api_key_env="TEAM_KEY")
        items, err = collect(engine, ask())
        assert err is not None and "refused the API key" in err.message and "TEAM_KEY" in err.hint
        check_frame(items)


def test_unknown_model_lists_served_models(srv):
    engine = RemoteEngine(srv.base_url, model="glm-4.7-typo")
    items, err = collect(engine, ask())
    assert err is not None
    assert "glm-4.7-typo" in err.message and "404" in err.message
    assert GLM in err.hint
    assert isinstance(err, GlmchatError) and "\n" not in str(err)


def test_server_error_500_shows_the_server_text(srv):
    srv.reply(Error(500, openai_error("CUDA out of memory", "InternalServerError", 500)))
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask())
    assert err is not None and "HTTP 500" in err.message and "CUDA out of memory" in err.message
    check_frame(items)
    # the engine stays usable
    items, err = collect(engine, ask())
    assert err is None and texts(items, RawText) == "Hello!"


def test_hang_times_out(srv):
    srv.reply(Hang())
    engine = RemoteEngine(srv.base_url, timeout=0.6)
    t = time.monotonic()
    items, err = collect(engine, ask())
    took = time.monotonic() - t
    assert err is not None and "timed out" in err.message and "timeout" in err.hint
    assert 0.5 < took < 3.0
    check_frame(items)


def test_stream_cut_mid_answer_keeps_partial_text(srv):
    chunks = vllm_chunks(reasoning=["Thinking"], content=["The answer is", " forty"], usage=None)[:-1]  # no finish chunk
    srv.reply(SSE(chunks, cut=True))
    engine = RemoteEngine(srv.base_url)
    items, err = collect(engine, ask())
    assert err is not None and "ended early" in err.message
    assert texts(items, AnswerText) == "The answer is forty"
    assert texts(items, ReasoningText) == "Thinking"
    check_frame(items)
    assert items[-1].usage.stop_reason == "error"
    items, err = collect(engine, ask())  # retry works
    assert err is None


def test_stream_ending_without_done_or_finish_is_an_error(srv):
    chunks = vllm_chunks(content=["half"], usage=None)[:-1]
    srv.reply(SSE(chunks, done=False))  # clean HTTP end, but no finish_reason and no [DONE]
    items, err = collect(RemoteEngine(srv.base_url), ask())
    assert err is not None and "ended early" in err.message and texts(items, RawText) == "half"


# ---- cancel ------------------------------------------------------------------------------------------


def test_cancel_while_the_server_is_silent(srv):
    srv.reply(SSE(vllm_chunks(content=["one", "two"], usage=None)[:3], stall=True))
    engine = RemoteEngine(srv.base_url)
    cancel = CancelToken()
    items: list[Any] = []
    t_cancel = None
    for item in engine.stream(ask(), cancel):
        items.append(item)
        if isinstance(item, RawText) and item.text == "two":
            timer = threading.Timer(0.2, cancel.cancel)
            timer.start()
            t_cancel = time.monotonic()
    assert t_cancel is not None
    assert time.monotonic() - t_cancel < 1.0  # blocked read interrupted, not waited out
    check_frame(items)
    assert texts(items, RawText) == "onetwo"
    assert items[-1].usage.stop_reason == "cancelled"
    items, err = collect(engine, ask())  # still usable
    assert err is None and texts(items, RawText) == "Hello!"


def test_cancel_between_chunks_and_before_start(srv):
    srv.reply(SSE(vllm_chunks(content=[f"w{i} " for i in range(50)]), delay=0.02))
    engine = RemoteEngine(srv.base_url)
    cancel = CancelToken()
    items = []
    for item in engine.stream(ask(), cancel):
        items.append(item)
        if isinstance(item, RawText) and item.text == "w2 ":
            cancel.cancel()
    check_frame(items)
    assert items[-1].usage.stop_reason == "cancelled"
    assert 3 <= len([i for i in items if isinstance(i, RawText)]) < 10
    done = CancelToken()
    done.cancel()
    items, err = collect(engine, ask(), done)
    assert err is None and [type(i) for i in items] == [Started, Finished]
    assert items[-1].usage.stop_reason == "cancelled"


def test_close_ends_a_running_stream(srv):
    srv.reply(SSE(vllm_chunks(content=["a"], usage=None)[:2], stall=True))
    engine = RemoteEngine(srv.base_url, timeout=20)
    gen = engine.stream(ask())
    assert isinstance(next(gen), Started)
    assert next(gen) == RawText("a")
    threading.Timer(0.2, engine.close).start()
    t = time.monotonic()
    rest = list(gen)
    assert time.monotonic() - t < 2.0
    assert isinstance(rest[-1], Finished) and rest[-1].usage.stop_reason == "cancelled"


def test_metadata_of_the_named_model():
    models = [
        {"id": "small", "object": "model", "owned_by": "sglang", "max_model_len": 4096},
        {"id": "glm-4.7-flash", "object": "model", "owned_by": "sglang", "max_model_len": 131072},
    ]
    with ScriptedServer(models=models) as s:
        first = RemoteEngine(s.base_url)
        assert first.model == "small" and first.info.n_ctx == 4096 and first.info.thinking is False
        named = RemoteEngine(s.base_url, model="glm-4.7-flash")
        assert named.info.n_ctx == 131072 and named.info.thinking is True
        s.reply(SSE(sglang_chunks(content=["ok"], model="glm-4.7-flash")))
        items, err = collect(named, ChatRequest(messages=[{"role": "user", "content": "x"}], sampling=SamplingParams(top_k=0)))
        assert err is None and s.requests[-1]["top_k"] == -1  # SGLang rejects 0
        assert s.requests[-1]["model"] == "glm-4.7-flash"
