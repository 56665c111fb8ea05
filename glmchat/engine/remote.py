"""RemoteEngine: GLM-4.7-Flash served by an OpenAI-compatible server (vLLM, SGLang, llama-server).

Speaks the chat-completions API with streaming (server-sent events) over the standard library's
`http.client`; nothing extra to install. One request = one connection, read by a small thread so
that cancelling and timeouts never wait on a blocked socket read.

How the stream maps onto the engine protocol (`glmchat.engine.base`):

* `delta.reasoning` (current vLLM) or `delta.reasoning_content` (SGLang, llama-server, older vLLM)
  → `ReasoningText`; once one arrived the server is known to split reasoning off, and
  `delta.content` → `AnswerText`.
* Otherwise `delta.content` → `RawText` for the session's `GlmStreamParser`, which finds `</think>`
  and `<tool_call>` in it.
* `Started` is yielded when the first piece of text arrives (or the stream ends without any), so its
  `in_thinking` can use what the stream has shown: the verdict of `glmchat.engine.server_probe` on
  whether the prompt opens a thinking block (None: not known; the parser holds the text until a
  `</think>` or the end shows what it was) when thinking was asked for, the first text is content
  and the server never sent a reasoning delta (it would send it first); False otherwise. Each stream
  corrects the verdict: a `</think>` in the content means the prompt opened the block, a complete
  answer without one means it did not.
* `delta.tool_calls` fragments (id and name first, arguments as string pieces) are put together per
  `index` and yielded as `ToolCallDelta`s when the `finish_reason` arrives.
* Usage comes from the final chunk (`stream_options.include_usage`); times are measured here. A
  server that reports no usage (llama-cpp-python's) gets completion tokens counted from the text
  chunks (one token each on llama.cpp servers) and prompt tokens estimated by `count_tokens`.

Failures follow the protocol: `Started`, the partial text, `Finished(stop_reason="error")`, then an
`EngineError` whose message says what failed and whose hint says what to do.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator

from glmchat.engine.base import (
    AnswerText,
    CancelToken,
    ChatRequest,
    EngineInfo,
    Finished,
    RawText,
    ReasoningText,
    Started,
    StreamItem,
    Usage,
)
from glmchat.engine.chat_body import build_body
from glmchat.engine.model_name import served_model_name
from glmchat.engine.server_probe import ThinkingVerdict
from glmchat.engine.sse_reader import ResponseTooLarge, SseReader, parse_sse_line, read_capped
from glmchat.engine.tool_call_parts import ToolCallParts
from glmchat.engine.urls import shown_url, url_credentials
from glmchat.errors import EngineError
from glmchat.glm.template import shows_thinking_end

DEFAULT_API_KEY_ENV = "GLMCHAT_API_KEY"
_POLL = 0.05  # seconds between cancel checks while waiting for the server

__all__ = ["RemoteEngine", "build_body", "list_models", "DEFAULT_API_KEY_ENV"]


# ---- endpoint and plain requests -----------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    """A parsed base URL such as http://gpu-box:8000/v1."""

    url: str  # as shown: never with the credentials the given URL may carry (glmchat.engine.urls)
    scheme: str
    host: str
    port: int
    path: str  # base path without a trailing slash, e.g. "/v1"
    credentials: tuple[str, str] | None = field(default=None, repr=False)  # user:password@ → HTTP basic auth

    @classmethod
    def parse(cls, base_url: str) -> "_Endpoint":
        raw = base_url.strip()
        if "://" not in raw:
            raw = "http://" + raw
        try:
            parts = urllib.parse.urlsplit(raw)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unclosed "[" of an IPv6 address
            ok = False
        if not ok:
            raise EngineError(
                f"Not an endpoint URL: {shown_url(base_url)!r}.", "Give one like http://127.0.0.1:8000/v1."
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise EngineError(f"Bad port in endpoint URL {shown_url(base_url)!r}.", "Give one like http://127.0.0.1:8000/v1.") from None
        path = parts.path.rstrip("/")
        if not path:
            path = "/v1"  # OpenAI-compatible servers all mount the API under /v1
        url = shown_url(f"{parts.scheme}://{parts.netloc}{path}")
        return cls(url=url, scheme=parts.scheme, host=parts.hostname, port=port, path=path, credentials=url_credentials(raw))

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def _headers(api_key: str | None, json_body: bool = False, credentials: tuple[str, str] | None = None) -> dict[str, str]:
    """Request headers; the API key as a bearer token, else the URL's user:password as basic auth."""
    h = {"Accept": "application/json", "User-Agent": "glmchat"}
    if json_body:
        h["Content-Type"] = "application/json"
        h["Accept"] = "text/event-stream"
    if api_key:
        h["Authorization"] = f"Bearer {api_key}"
    elif credentials:
        h["Authorization"] = "Basic " + base64.b64encode(":".join(credentials).encode("utf-8")).decode("ascii")
    return h


def _network_error(ep: _Endpoint, exc: BaseException, timeout: float) -> EngineError:
    """An OSError from connecting or reading (or an oversized answer), as a message people can act on."""
    if isinstance(exc, ResponseTooLarge):
        return EngineError(
            f"{ep.url} sent {exc.what} of more than {exc.limit // (1024 * 1024)} MiB; glmchat stopped reading it.",
            "Check that the endpoint URL points at an OpenAI-compatible API (it usually ends in /v1).",
        )
    if isinstance(exc, ConnectionRefusedError):
        return EngineError(f"Cannot reach {ep.url}: connection refused.", "Is the server running? Check the host and port.")
    if isinstance(exc, socket.gaierror):
        return EngineError(f"Cannot reach {ep.url}: host {ep.host!r} not found.", "Check the host name in the endpoint URL.")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return EngineError(
            f"No answer from {ep.url} within {timeout:g} s (timed out).",
            "The server may be busy or stuck; retry, or raise [remote] timeout in config.toml.",
        )
    if isinstance(exc, ssl.SSLError):
        return EngineError(f"TLS failed with {ep.url}: {exc}.", "Check the https:// URL and the server's certificate.")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected)):
        return EngineError(f"{ep.url} closed the connection unexpectedly.", "The server may have crashed or restarted; retry.")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return EngineError(f"Cannot reach {ep.url}: {reason}.", "Check the endpoint URL and that the server is running.")


def _error_text(body: bytes) -> str:
    """The message in an OpenAI-style (`{"error": {...}}`) or vLLM-style (`{"message": ...}`) error body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:500]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg")
            if msg:
                return " ".join(str(msg).split())[:500]
        elif isinstance(err, str):
            return err[:500]
        if isinstance(data.get("detail"), str):
            return data["detail"][:500]
    return " ".join(text.split())[:500]


def _request_json(ep: _Endpoint, path: str, api_key: str | None, timeout: float, *, under_api: bool = True, body: Any = None) -> tuple[int, bytes]:
    """GET `path` (POST `body` as JSON) under the endpoint or the server's root: (status, body).
    Raises EngineError on network failure."""
    conn = ep.connection(timeout)
    method, data = ("GET", None) if body is None else ("POST", json.dumps(body).encode("utf-8"))
    try:
        headers = _headers(api_key, credentials=ep.credentials) | ({"Content-Type": "application/json"} if data else {})
        conn.request(method, (ep.path if under_api else "") + path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, read_capped(resp, what=f"an answer to {method} {path}")
    except (OSError, http.client.HTTPException, ResponseTooLarge) as exc:
        raise _network_error(ep, exc, timeout) from None
    finally:
        conn.close()


def _auth_error(ep: _Endpoint, status: int, api_key: str | None, api_key_env: str, detail: str) -> EngineError:
    what = "refused the API key" if api_key else "needs an API key"
    return EngineError(
        f"{ep.url} {what} (HTTP {status}{': ' + detail if detail else ''}).",
        f"Put the key in the environment variable {api_key_env} (named by [remote] api_key_env in config.toml).",
    )


def _served_models(ep: _Endpoint, api_key: str | None, timeout: float, api_key_env: str) -> list[dict[str, Any]]:
    status, body = _request_json(ep, "/models", api_key, timeout)
    if status in (401, 403):
        raise _auth_error(ep, status, api_key, api_key_env, _error_text(body))
    if status != 200:
        raise EngineError(
            f"{ep.url}/models answered HTTP {status}: {_error_text(body) or 'no details'}.",
            "Check that the URL points at an OpenAI-compatible API (it usually ends in /v1).",
        )
    try:
        data = json.loads(body)
        items = data["data"] if isinstance(data, dict) else data
        return [m for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (ValueError, KeyError, TypeError):
        raise EngineError(
            f"{ep.url}/models did not answer with a model list.",
            "Check that the URL points at an OpenAI-compatible API (it usually ends in /v1).",
        ) from None


def list_models(base_url: str, api_key: str | None = None, timeout: float = 10.0, *, api_key_env: str = DEFAULT_API_KEY_ENV) -> list[str]:
    """The model names an OpenAI-compatible server serves (GET {base_url}/models)."""
    ep = _Endpoint.parse(base_url)
    return [m["id"] for m in _served_models(ep, api_key, timeout, api_key_env)]


# ---- per-stream state ----------------------------------------------------------------------------


@dataclass
class _StreamState:
    t0: float
    first_token: float | None = None
    last_token: float | None = None
    text_chunks: int = 0
    saw_reasoning: bool = False
    content_tail: str = ""  # the end of the content so far, where a </think> may have started
    saw_think_end: bool = False  # the content closed a thinking block
    finish_reason: str | None = None
    done: bool = False
    started: bool = False  # Started was yielded
    cancelled: bool = False  # cancelled, or the engine closed from another thread
    usage: dict[str, Any] | None = None
    tool_calls: ToolCallParts = field(default_factory=ToolCallParts)

    def mark_token(self) -> None:
        now = time.monotonic()
        if self.first_token is None:
            self.first_token = now
        self.last_token = now
        self.text_chunks += 1


# ---- the engine ----------------------------------------------------------------------------------


class RemoteEngine:
    """An `Engine` backed by an OpenAI-compatible chat-completions server.

    Construction asks the server for its models (GET /models): that checks the URL and key early,
    picks the first served model when `model` is None, and reads the context size when the server
    reports it (vLLM `max_model_len`, llama-server `meta.n_ctx_train`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 600.0,
        api_key_env: str = DEFAULT_API_KEY_ENV,
    ) -> None:
        self._ep = _Endpoint.parse(base_url)
        self.api_key = api_key or None
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self._splits_reasoning = False  # seen a reasoning delta from this server
        self._readers: set[SseReader] = set()
        self._readers_lock = threading.Lock()

        served: list[dict[str, Any]] = []
        try:
            served = _served_models(self._ep, self.api_key, min(self.timeout, 10.0), api_key_env)
        except EngineError:
            if model is None:
                raise
            # an explicit model name is enough to chat; the stream will report a real fault
            served = []
        if model is None:
            if not served:
                raise EngineError(f"{self._ep.url} serves no models.", "Start the server with a model, or pass --model.")
            model = served[0]["id"]
        # metadata of the chosen model; a lone served model answers to any name on llama.cpp servers
        meta = next((m for m in served if m.get("id") == model), served[0] if len(served) == 1 else {})
        self.model: str = model
        # whether the generation prompt opens a thinking block: asked only of a server that answered
        self._thinking = ThinkingVerdict(None, "unknown")
        if served:
            self._thinking = ThinkingVerdict.ask(self._probe, self._ep.path, model)
        self.info = self._make_info(model, meta)
        server_kind = served[0].get("owned_by") if served else None
        self._top_k_off = -1 if server_kind in ("vllm", "sglang") else 0

    def _probe(self, path: str, body: Any) -> tuple[int, bytes]:
        return _request_json(self._ep, path, self.api_key, 5.0, under_api=False, body=body)

    @classmethod
    def from_settings(cls, remote: Any, base_url: str | None = None, model: str | None = None) -> "RemoteEngine":
        """Build from a `settings.RemoteSettings` ([remote] in config.toml); arguments override it."""
        import os

        url = base_url or remote.base_url
        if not url:
            raise EngineError("No endpoint given.", "Pass --endpoint URL or set [remote] base_url in config.toml.")
        key = os.environ.get(remote.api_key_env) or None
        return cls(url, api_key=key, model=model or remote.model, timeout=remote.timeout, api_key_env=remote.api_key_env)

    def _make_info(self, model: str, meta: dict[str, Any]) -> EngineInfo:
        inner = meta.get("meta") if isinstance(meta.get("meta"), dict) else {}
        n_ctx_train = _int_or_zero(inner.get("n_ctx_train")) or _int_or_zero(meta.get("max_model_len"))
        n_ctx = _int_or_zero(meta.get("max_model_len")) or _int_or_zero(inner.get("n_ctx")) or n_ctx_train
        details = {k: meta[k] for k in ("owned_by", "root") if isinstance(meta.get(k), str)}
        details["thinking_from"] = self._thinking.source
        return EngineInfo(
            model=served_model_name(model),  # llama-cpp-python names a model by its file path: its stem
            path=self._ep.url,
            backend="remote",
            where=self._ep.where,
            n_ctx=n_ctx,
            n_ctx_train=n_ctx_train,
            thinking=self._thinking.opens is True,  # what the server said (glmchat.engine.server_probe)
            details=details,
        )

    # -- Engine protocol ---------------------------------------------------------------------------

    def count_tokens(self, request: ChatRequest) -> int:
        """An estimate: about four characters per token over the messages and tool schemas."""
        chars = len(json.dumps(request.messages, ensure_ascii=False))
        if request.tools:
            chars += len(json.dumps(request.tools, ensure_ascii=False))
        return max(1, chars // 4)

    def close(self) -> None:
        """End any running stream (it finishes with stop_reason "cancelled"); the engine stays usable."""
        with self._readers_lock:
            readers = list(self._readers)
        for r in readers:
            r.close()

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None) -> Iterator[StreamItem]:
        """Generate remotely. Yields Started, text items, Finished; raises EngineError after a failure."""
        cancel = cancel or CancelToken()
        state = _StreamState(t0=time.monotonic())
        opens = self._thinking.opens if request.enable_thinking else False
        in_thinking: bool | None = False

        def start(first_is_reasoning: bool) -> Started:
            nonlocal in_thinking
            state.started = True
            in_thinking = False if first_is_reasoning or self._splits_reasoning else opens
            return Started(in_thinking=in_thinking)

        def finish(stop: str) -> Finished:
            return Finished(self._usage(request, state, stop))

        reader = self._start_reader(request)
        try:
            for out in self._read(reader, cancel, state):
                if not state.started:
                    yield start(isinstance(out, ReasoningText))
                yield out
            if not state.started:
                yield start(False)
            if state.cancelled:
                yield finish("cancelled")
                return
            if state.tool_calls:  # a server that ended without a finish_reason chunk
                yield from state.tool_calls.take()
            if request.enable_thinking and in_thinking is not False:
                self._learn_thinking(state)
            yield finish("length" if state.finish_reason == "length" else "stop")
        except EngineError:
            reader.close()
            if not state.started:
                yield start(False)
            yield finish("error")
            raise
        finally:
            reader.close()
            with self._readers_lock:
                self._readers.discard(reader)

    def _start_reader(self, request: ChatRequest) -> SseReader:
        """POST the request on a reading thread (registered so that `close()` can end it)."""
        body = json.dumps(build_body(request, self.model, self._top_k_off), ensure_ascii=False).encode("utf-8")
        ep, timeout = self._ep, self.timeout + 1.0
        reader = SseReader(lambda: ep.connection(timeout), ep.path + "/chat/completions", body, _headers(self.api_key, json_body=True, credentials=ep.credentials))
        with self._readers_lock:
            self._readers.add(reader)
        reader.start()
        return reader

    def _read(self, reader: SseReader, cancel: CancelToken, state: _StreamState) -> Iterator[StreamItem]:
        """The stream's text and tool-call items as they arrive, until it ends or is cancelled.

        Sets `state.cancelled` on a cancel (or `close()` from another thread); raises EngineError for
        a network failure, an error status, a timeout or a stream that ends before the answer did.
        """
        last_data = time.monotonic()
        closed_elsewhere = False  # engine.close() from another thread ends the stream like a cancel
        while True:
            if cancel.cancelled or closed_elsewhere:
                reader.close()
                state.cancelled = True
                return
            try:
                item = reader.items.get(timeout=_POLL)
            except queue.Empty:
                if time.monotonic() - last_data > self.timeout:
                    reader.close()
                    raise _network_error(self._ep, TimeoutError(), self.timeout)
                continue
            last_data = time.monotonic()
            if item[0] == "closed":
                closed_elsewhere = True
                continue
            if item[0] != "line":
                self._check_stream_end(item, state)
                return
            chunk = parse_sse_line(item[1])
            if chunk == "[DONE]":
                state.done = True
                return
            if chunk is not None:
                yield from self._handle_chunk(chunk, state)

    def _check_stream_end(self, item: tuple[Any, ...], state: _StreamState) -> None:
        """A reader item that ends the stream: EngineError for a failure; a complete end returns."""
        kind = item[0]
        if kind == "status":
            raise self._status_error(item[1], item[2])
        if kind == "error":
            raise _network_error(self._ep, item[1], self.timeout)
        if state.finish_reason is None and not state.done:  # "eof" before the answer finished
            raise EngineError(
                f"The stream from {self._ep.url} ended early: the connection closed before the answer finished.",
                "The partial answer was kept; retry to generate it again.",
            )

    # -- helpers -----------------------------------------------------------------------------------

    def _learn_thinking(self, state: _StreamState) -> None:
        """What a finished stream of raw content showed about thinking; later streams start from that."""
        complete = bool(state.content_tail) and state.finish_reason in ("stop", "tool_calls") and not self._splits_reasoning
        self._thinking.learn(state.saw_think_end, complete)
        self.info.thinking = self._thinking.opens is True or self._splits_reasoning
        self.info.details["thinking_from"] = self._thinking.source

    def _handle_chunk(self, chunk: dict[str, Any], state: _StreamState) -> Iterator[StreamItem]:
        if chunk.get("error") and not chunk.get("choices"):
            err = chunk["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise EngineError(f"{self._ep.url} reported an error mid-stream: {msg}.", "The partial answer was kept; retry.")
        if isinstance(chunk.get("usage"), dict):
            state.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning")
            if reasoning is None:
                reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                state.saw_reasoning = True
                self._splits_reasoning = self.info.thinking = True
                state.mark_token()
                yield ReasoningText(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                state.mark_token()
                if not state.saw_think_end and not state.saw_reasoning:
                    seen = state.content_tail + content
                    state.saw_think_end = shows_thinking_end(seen)
                    state.content_tail = seen[-16:]
                yield AnswerText(content) if state.saw_reasoning else RawText(content)
            for frag in delta.get("tool_calls") or []:
                if isinstance(frag, dict) and state.tool_calls.add(frag):
                    state.mark_token()
            reason = choice.get("finish_reason")
            if reason:
                state.finish_reason = reason
                if state.tool_calls:
                    yield from state.tool_calls.take()

    def _usage(self, request: ChatRequest, state: _StreamState, stop: str) -> Usage:
        u = state.usage or {}
        prompt = _int_or_zero(u.get("prompt_tokens"))
        if not prompt and not u:
            prompt = self.count_tokens(request)
        details = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
        cached = _int_or_zero(details.get("cached_tokens"))
        completion = _int_or_zero(u.get("completion_tokens")) if "completion_tokens" in u else state.text_chunks
        ttft = (state.first_token - state.t0) if state.first_token is not None else 0.0
        gen_time = (state.last_token - state.first_token) if state.first_token is not None and state.last_token else 0.0
        evaluated = max(prompt - cached, 0)
        return Usage(
            prompt_tokens=prompt,
            cached_prompt_tokens=cached,
            completion_tokens=completion,
            time_to_first_token=ttft,
            prompt_time=ttft,  # client side we only see request → first token (includes the network)
            generation_time=gen_time,
            prompt_tokens_per_second=evaluated / ttft if ttft > 0 else 0.0,
            generation_tokens_per_second=(completion / gen_time) if gen_time > 0 else 0.0,
            stop_reason=stop,
        )

    def _status_error(self, status: int, body: bytes) -> EngineError:
        detail = _error_text(body)
        ep = self._ep
        if status in (401, 403):
            return _auth_error(ep, status, self.api_key, self.api_key_env, detail)
        low = detail.lower()
        model_fault = "model" in low and (status == 404 or self.model.lower() in low)
        if status in (400, 404, 422) and model_fault:
            try:
                served = [m["id"] for m in _served_models(ep, self.api_key, 10.0, self.api_key_env)]
                names = ", ".join(served) if served else "none"
            except EngineError:
                names = "unknown (GET /models failed)"
            return EngineError(
                f"{ep.url} does not serve the model {self.model!r} (HTTP {status}).",
                f"Served models: {names}. Pick one with --model or [remote] model.",
            )
        if status == 404:
            return EngineError(
                f"{ep.url}/chat/completions was not found (HTTP 404).",
                "Check the endpoint URL: OpenAI-compatible APIs usually live under /v1.",
            )
        if status >= 500:
            return EngineError(
                f"Server error from {ep.url} (HTTP {status}): {detail or 'no details'}.",
                "Check the server's log; retry when it is healthy.",
            )
        return EngineError(
            f"{ep.url} rejected the request (HTTP {status}): {detail or 'no details'}.",
            "Check the model name and the sampling values the server accepts.",
        )


def _int_or_zero(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0

