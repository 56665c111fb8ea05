"""The openai client against the server on the small model (SmolLM2): plain and streaming answers,
usage with prefix reuse, the API key, a concurrent request waiting, and cancel by disconnect."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from glmchat.engine.base import Finished
from glmchat.engine.local import LocalEngine
from tests.serve.serve_support import running

pytestmark = pytest.mark.slow

GREEDY = {"temperature": 0.0, "top_p": 1.0, "extra_body": {"top_k": 0, "min_p": 0.0}}
ASK = [{"role": "user", "content": "Name three colours."}]


class Recording:
    """The engine, noting how each generation stopped."""

    def __init__(self, engine: LocalEngine) -> None:
        self.engine, self.info, self.stops = engine, engine.info, []

    def stream(self, request, cancel=None):
        for item in self.engine.stream(request, cancel):
            if isinstance(item, Finished):
                self.stops.append(item.usage.stop_reason)
            yield item

    def count_tokens(self, request):
        return self.engine.count_tokens(request)

    def close(self):
        pass


@pytest.fixture(scope="module")
def engine(smollm2_path, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(tmp_path_factory.mktemp("serve-data")))
        eng = LocalEngine.load(smollm2_path, n_ctx=2048, n_threads=1)
    yield Recording(eng)
    eng.close()


def test_plain_and_streaming_agree_with_usage_and_prefix_reuse(engine):
    with running(engine) as (url, _):
        client = openai.OpenAI(base_url=url, api_key="none")
        plain = client.chat.completions.create(model="smol", messages=ASK, max_tokens=12, **GREEDY)
        assert plain.choices[0].message.content and plain.choices[0].finish_reason in ("stop", "length")
        assert plain.usage.prompt_tokens > 5 and 0 < plain.usage.completion_tokens <= 12
        text, usage = [], None
        for chunk in client.chat.completions.create(model="smol", messages=ASK, max_tokens=12, stream=True,
                                                    stream_options={"include_usage": True}, **GREEDY):
            usage = chunk.usage or usage
            text += [c.delta.content or "" for c in chunk.choices]
        assert "".join(text) == plain.choices[0].message.content
        assert usage.completion_tokens == plain.usage.completion_tokens
        assert usage.prompt_tokens_details.cached_tokens > 0  # the same prompt again: read from the KV cache


def test_key_required_when_set(engine):
    with running(engine, api_key="k-123") as (url, _):
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="nope").chat.completions.create(model="smol", messages=ASK, max_tokens=2)
        ok = openai.OpenAI(base_url=url, api_key="k-123").chat.completions.create(model="smol", messages=ASK, max_tokens=2)
        assert ok.usage.completion_tokens > 0


def test_concurrent_request_waits_then_answers(engine):
    with running(engine) as (url, server):
        client = openai.OpenAI(base_url=url, api_key="none")
        results = []
        threads = [threading.Thread(target=lambda: results.append(client.chat.completions.create(model="smol", messages=ASK, max_tokens=128, **GREEDY)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while server.gate.admitted < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.gate.admitted == 2 and server.gate.lock.locked()  # one generating, one waiting
        for t in threads:
            t.join()
        assert len(results) == 2 and results[0].choices[0].message.content == results[1].choices[0].message.content


def test_disconnect_cancels_the_generation(engine):
    with running(engine) as (url, server):
        engine.stops.clear()
        stream = openai.OpenAI(base_url=url, api_key="none").chat.completions.create(
            model="smol", messages=[{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=1500, stream=True)
        for i, _ in enumerate(stream):
            if i >= 3:
                break
        stream.close()
        deadline = time.monotonic() + 10
        while (not engine.stops or server.gate.admitted) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.stops == ["cancelled"] and server.gate.admitted == 0
