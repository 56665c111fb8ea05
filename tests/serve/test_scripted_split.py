"""Over a scripted GLM stream: reasoning_content, content and tool_calls come back separated exactly,
streaming and not, whatever the chunking; request fields reach the ChatRequest; bad bodies get 400."""

from __future__ import annotations

import json

import openai
import pytest

from glmchat.engine.scripted import ScriptedEngine
from tests.serve.serve_support import TOOLS, collect_stream, httpx, running

CALL_SCRIPT = ("The user wants weather.</think>Let me check.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>"
               "<arg_key>days</arg_key><arg_value>3</arg_value></tool_call><tool_call>get_weather<arg_key>city</arg_key>"
               "<arg_value>Rome</arg_value></tool_call>")
ASK = [{"role": "user", "content": "Weather in Paris and Rome?"}]


@pytest.mark.parametrize("chunk_chars", [1, 3, 7, 500])
def test_tool_calls_reasoning_and_content_split_exactly(chunk_chars):
    with running(ScriptedEngine(scripts=[CALL_SCRIPT], chunk_chars=chunk_chars)) as (url, _):
        client = openai.OpenAI(base_url=url, api_key="none")
        r = client.chat.completions.create(model="glm", messages=ASK, tools=TOOLS)
        msg = r.choices[0].message.model_dump()
        assert msg["reasoning_content"] == "The user wants weather."
        assert msg["content"] == "Let me check."
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in msg["tool_calls"]] == [
            ("get_weather", {"city": "Paris", "days": 3}), ("get_weather", {"city": "Rome"})]
        assert len({c["id"] for c in msg["tool_calls"]}) == 2
        assert r.choices[0].finish_reason == "tool_calls"

        reasoning, content, calls, finish, _ = collect_stream(client, model="glm", messages=ASK, tools=TOOLS)
        assert (reasoning, content, finish) == ("The user wants weather.", "Let me check.", "tool_calls")
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Paris", "days": 3}), ("get_weather", {"city": "Rome"})]
        assert all(c["id"] for c in calls)


def test_plain_answer_streams_with_usage_and_stop_reason():
    with running(ScriptedEngine(scripts=["Thinking hard.</think>Hello there, friend."], chunk_chars=2)) as (url, _):
        client = openai.OpenAI(base_url=url, api_key="none")
        reasoning, content, calls, finish, usage = collect_stream(client, model="glm", messages=ASK, stream_options={"include_usage": True})
        assert (reasoning, content, calls, finish) == ("Thinking hard.", "Hello there, friend.", [], "stop")
        assert usage.completion_tokens == -(-len("Thinking hard.</think>Hello there, friend.") // 2)  # chunks of 2
        assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stop_strings_cut_the_content_across_chunks():
    with running(ScriptedEngine(scripts=["Hmm.</think>one two STOP three"], chunk_chars=3)) as (url, _):
        client = openai.OpenAI(base_url=url, api_key="none")
        r = client.chat.completions.create(model="glm", messages=ASK, stop=["STOP"])
        assert r.choices[0].message.content == "one two " and r.choices[0].finish_reason == "stop"
        _, content, _, finish, _ = collect_stream(client, model="glm", messages=ASK, stop="STOP")
        assert (content, finish) == ("one two ", "stop")


def test_request_fields_reach_the_engine_and_profiles_fill_the_rest():
    engine = ScriptedEngine(scripts=["ok"])
    with running(engine) as (url, server):
        client = openai.OpenAI(base_url=url, api_key="none")
        client.chat.completions.create(model="glm", messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=7, seed=5, temperature=0.3,
                                       extra_body={"top_k": 9, "chat_template_kwargs": {"enable_thinking": False, "clear_thinking": False}})
        req = engine.requests[-1]
        assert req.tools is None and not req.enable_thinking and not req.clear_thinking
        assert (req.sampling.max_tokens, req.sampling.seed, req.sampling.temperature, req.sampling.top_k) == (7, 5, 0.3, 9)
        assert req.sampling.top_p == server.settings.profile().top_p
        client.chat.completions.create(model="glm", messages=ASK, tools=TOOLS)
        assert engine.requests[-1].tools == TOOLS and engine.requests[-1].enable_thinking


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"messages": []}', b'{"messages": [{"role": "wizard", "content": "x"}]}',
    b'{"messages": [{"role": "user", "content": 5}]}', b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
    b'{"messages": [{"role": "user", "content": "x"}], "temperature": 99}', b'{"messages": [{"role": "user", "content": "x"}], "tools": [{"x": 1}]}',
    b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', b'{"messages": [{"role": "user", "content": "x"}], "stop": [1]}',
    b'{"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}]}',
    b'{"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"enable_thinking": "yes"}}',
    b'{"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}',
])
def test_hostile_bodies_get_an_openai_error(body):
    engine = ScriptedEngine()
    with running(engine) as (url, _):
        r = httpx.post(f"{url}/chat/completions", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert isinstance(r.json()["error"]["message"], str)
        assert engine.requests == []
        assert httpx.get(f"{url}/models").status_code == 200  # still serving


def test_models_lists_the_engine_model_and_the_key_is_required():
    with running(ScriptedEngine(), api_key="s3cret") as (url, _):
        assert openai.OpenAI(base_url=url, api_key="s3cret").models.list().data[0].id == "scripted"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong").chat.completions.create(model="glm", messages=ASK)
        assert httpx.get(f"{url}/models").status_code == 401


def test_request_log_has_one_private_line_per_request_and_no_contents(tmp_path):
    log = tmp_path / "serve.log"
    with running(ScriptedEngine(scripts=["</think>The secret answer."]), log_path=log, api_key="key-xyzzy") as (url, _):
        client = openai.OpenAI(base_url=url, api_key="key-xyzzy")
        client.chat.completions.create(model="glm", messages=[{"role": "user", "content": "my private question"}])
        list(client.chat.completions.create(model="glm", messages=ASK, stream=True))
        httpx.get(f"{url}/models")
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and (log.stat().st_mode & 0o777) == 0o600
    assert [line.split()[1:3] for line in lines] == [["/v1/chat/completions", "200"]] * 2 + [["/v1/models", "401"]]
    assert "completion=" in lines[0] and "prompt=" in lines[0]
    text = log.read_text()
    assert "private" not in text and "secret" not in text and "xyzzy" not in text
