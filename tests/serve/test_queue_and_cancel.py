"""One generation at a time: a second request waits its turn, one past the line gets 429 with
Retry-After; a client that goes away (streaming or not) cancels its generation."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field

import openai

from glmchat.engine.base import Finished
from glmchat.engine.scripted import ScriptedEngine
from tests.serve.serve_support import httpx, running

ASK = {"model": "glm", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class RecordingEngine(ScriptedEngine):
    """A scripted engine that notes when each generation ran and how it stopped."""

    spans: list = field(default_factory=list)
    stops: list = field(default_factory=list)

    def stream(self, request, cancel=None):
        start = time.monotonic()
        for item in super().stream(request, cancel):
            if isinstance(item, Finished):
                self.stops.append(item.usage.stop_reason)
            yield item
        self.spans.append((start, time.monotonic()))


def test_second_request_waits_and_one_past_the_line_gets_429():
    engine = RecordingEngine(scripts=["</think>" + "a" * 20], chunk_chars=1, delay=0.03)
    with running(engine, queue_size=1) as (url, _):
        results = {}

        def post(name):
            results[name] = httpx.post(f"{url}/chat/completions", json=ASK, timeout=30)

        threads = []
        for name in ("first", "second"):
            threads.append(threading.Thread(target=post, args=(name,)))
            threads[-1].start()
            time.sleep(0.15)
        third = httpx.post(f"{url}/chat/completions", json=ASK, timeout=30)
        for t in threads:
            t.join()
        assert third.status_code == 429 and third.headers["retry-after"].isdigit()
        assert third.json()["error"]["type"] == "rate_limit_error"
        assert [results[n].status_code for n in ("first", "second")] == [200, 200]
        assert results["second"].json()["choices"][0]["message"]["content"] == "a" * 20
        (_, e1), (s2, _) = sorted(engine.spans)
        assert s2 >= e1  # never two generations at once
        assert httpx.post(f"{url}/chat/completions", json=ASK, timeout=30).status_code == 200  # the line emptied


def test_streaming_client_that_disconnects_cancels_the_generation():
    engine = RecordingEngine(scripts=["</think>" + "b" * 400], chunk_chars=1, delay=0.01)
    with running(engine) as (url, server):
        client = openai.OpenAI(base_url=url, api_key="none")
        stream = client.chat.completions.create(stream=True, **ASK)
        got = 0
        for chunk in stream:
            got += len(chunk.choices[0].delta.content or "")
            if got >= 5:
                break
        stream.close()
        deadline = time.monotonic() + 3
        while (not engine.stops or server.gate.admitted) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.stops == ["cancelled"]
        assert server.gate.admitted == 0
        r = client.chat.completions.create(**ASK)
        assert r.choices[0].message.content == "b" * 400


def test_plain_client_that_goes_away_cancels_the_generation():
    engine = RecordingEngine(scripts=["</think>" + "c" * 400], chunk_chars=1, delay=0.01)
    with running(engine) as (url, server):
        body = json.dumps(ASK).encode()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.5)  # generating; then the client goes away without reading
        deadline = time.monotonic() + 3
        while (not engine.stops or server.gate.admitted) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.stops == ["cancelled"]
        assert server.gate.admitted == 0


def test_client_that_leaves_while_waiting_never_generates():
    engine = RecordingEngine(scripts=["</think>" + "d" * 40], chunk_chars=1, delay=0.02)
    with running(engine) as (url, server):
        first = threading.Thread(target=lambda: httpx.post(f"{url}/chat/completions", json=ASK, timeout=30))
        first.start()
        time.sleep(0.15)
        body = json.dumps(ASK).encode()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            deadline = time.monotonic() + 3
            while server.gate.admitted < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.gate.admitted == 2  # waiting behind the first
        first.join()
        deadline = time.monotonic() + 3
        while server.gate.admitted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.gate.admitted == 0 and engine.calls == 1 and engine.stops == ["stop"]
