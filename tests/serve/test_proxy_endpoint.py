"""Over `--endpoint` (RemoteEngine) glmchat serve is a fixing proxy: a server that splits reasoning and
tool calls passes them on as OpenAI shapes, one that sends raw GLM text gets it split by glmchat."""

from __future__ import annotations

import json

import openai
import pytest

from glmchat.engine.remote import RemoteEngine
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks
from tests.serve.serve_support import TOOLS, collect_stream, running

ASK = [{"role": "user", "content": "Weather?"}]


@pytest.fixture
def srv():
    with ScriptedServer() as s:
        yield s


def test_split_upstream_passes_through(srv):
    srv.reply(SSE(vllm_chunks(reasoning=["The user ", "wants weather."], content=["Let me check", "."],
                              tools=[("get_weather", ['{"city"', ': "Bei', 'jing"}'])], usage=(321, 40), cached=300)))
    with running(RemoteEngine(srv.base_url)) as (url, _):
        r = openai.OpenAI(base_url=url, api_key="none").chat.completions.create(model="glm", messages=ASK, tools=TOOLS)
    msg = r.choices[0].message
    assert (msg.reasoning_content, msg.content, r.choices[0].finish_reason) == ("The user wants weather.", "Let me check.", "tool_calls")
    assert [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == [("get_weather", {"city": "Beijing"})]
    assert (r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens, r.usage.completion_tokens) == (321, 300, 40)


def test_raw_glm_upstream_is_split_by_glmchat(srv):
    raw = ["Think", "ing.</th", "ink>Answer", " text<tool_", "call>get_weather<arg_key>city</arg_key><arg_value>Oslo</arg_value></tool_call>"]
    srv.reply(SSE(vllm_chunks(content=raw)))
    with running(RemoteEngine(srv.base_url)) as (url, _):
        reasoning, content, calls, finish, _ = collect_stream(openai.OpenAI(base_url=url, api_key="none"), model="glm", messages=ASK, tools=TOOLS)
    assert (reasoning, content, finish) == ("Thinking.", "Answer text", "tool_calls")
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Oslo"})]
