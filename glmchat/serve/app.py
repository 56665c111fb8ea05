"""The HTTP routes of `glmchat serve`: an OpenAI-compatible API over one engine (Starlette).

`GET /v1/models` and `POST /v1/chat/completions` (plain JSON, or server-sent events with
`"stream": true`). Requests pass `glmchat.serve.translate`; one generation runs at a time
(`glmchat.serve.gate`), a full line answers 429 with Retry-After, a client that goes away cancels its
generation. With an API key every request needs `Authorization: Bearer <key>`. Each request leaves one
line in the request log: time, path, status, tokens, duration (never what the messages said).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from glmchat.engine.base import Engine
from glmchat.errors import GlmchatError
from glmchat.private_files import open_private
from glmchat.serve.gate import Gate, Generation
from glmchat.serve.translate import (
    BadRequest,
    OutputSplitter,
    Parsed,
    error_body,
    parse_request,
    usage_dict,
)
from glmchat.settings import Settings

MAX_BODY = 16 * 1024 * 1024


class RequestLog:
    """One line per request appended to a 0600 file; None path: no log."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, path: str, status: int, started: float, tokens: tuple[int, int] = (0, 0)) -> None:
        if self.path is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp} {path} {status} prompt={tokens[0]} completion={tokens[1]} {time.monotonic() - started:.3f}s\n"
        try:
            fd = open_private(self.path)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass


class _Gated(StreamingResponse):
    """A streaming response that gives its place in the line back however it ends."""

    def __init__(self, content: AsyncIterator[str], on_close: Any) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def _error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, kind, param), status_code=status, headers=headers)


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


class Server:
    def __init__(self, engine: Engine, settings: Settings, *, profile: str | None = None, api_key: str | None = None,
                 queue_size: int = 4, log_path: Path | None = None) -> None:
        self.engine, self.settings, self.profile = engine, settings, profile
        self.api_key = api_key
        self.gate = Gate(queue_size)
        self.log = RequestLog(log_path)
        self.model = engine.info.model

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/models", self.models, methods=["GET"]),
                                 Route("/v1/chat/completions", self.chat, methods=["POST"])])

    def _authorized(self, request: Request) -> bool:
        if not self.api_key:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode())

    async def models(self, request: Request) -> Response:
        started = time.monotonic()
        if not self._authorized(request):
            self.log.write("/v1/models", 401, started)
            return _error(401, "A valid API key is needed (Authorization: Bearer ...).", "authentication_error")
        self.log.write("/v1/models", 200, started)
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "glmchat"}]})

    async def chat(self, request: Request) -> Response:
        started, path = time.monotonic(), "/v1/chat/completions"
        response = await self._chat(request, started)
        if not isinstance(response, _Gated):
            self.log.write(path, response.status_code, started, getattr(response, "tokens", (0, 0)))
        return response

    async def _chat(self, request: Request, started: float) -> Response:
        if not self._authorized(request):
            return _error(401, "A valid API key is needed (Authorization: Bearer ...).", "authentication_error")
        try:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return _error(413, "The request body is too large.")
            parsed = parse_request(json.loads(raw), self.settings, self.profile)
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        except BadRequest as exc:
            return _error(400, exc.message, param=exc.param)
        except GlmchatError as exc:
            return _error(400, exc.message)
        if not self.gate.admit():
            return _error(429, "The server is busy: too many requests are waiting.", "rate_limit_error", headers={"Retry-After": "5"})
        if parsed.stream:
            holder: dict[str, Any] = {}
            gen = self._stream(parsed, holder)
            return _Gated(gen, lambda: (self.gate.leave(), self.log.write("/v1/chat/completions", 200, started, holder.get("tokens", (0, 0)))))
        try:
            return await self._complete(parsed, request)
        finally:
            self.gate.leave()

    def _chunk(self, cid: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    async def _stream(self, parsed: Parsed, holder: dict[str, Any]) -> AsyncIterator[str]:
        cid = f"chatcmpl-{int(time.time() * 1000)}"
        async with self.gate.lock:
            splitter = OutputSplitter(parsed.request.tools, parsed.stop)
            gen = Generation(self.engine, parsed.request)
            try:
                yield _sse(self._chunk(cid, {"role": "assistant", "content": ""}))
                try:
                    async for item in gen.items():
                        for d in splitter.feed(item):
                            yield _sse(self._chunk(cid, _delta(d)))
                        if splitter.stopped:
                            gen.cancel.cancel()
                except GlmchatError as exc:
                    yield _sse(error_body(exc.message, "server_error"))
                    return
                for d in splitter.finish():
                    yield _sse(self._chunk(cid, _delta(d)))
                yield _sse(self._chunk(cid, {}, splitter.finish_reason()))
                usage = splitter.usage
                holder["tokens"] = (usage.prompt_tokens, usage.completion_tokens)
                if parsed.include_usage:
                    chunk = self._chunk(cid, {})
                    chunk["choices"], chunk["usage"] = [], usage_dict(usage)
                    yield _sse(chunk)
                yield "data: [DONE]\n\n"
            finally:
                await gen.close()

    async def _complete(self, parsed: Parsed, request: Request) -> Response:
        if not await self._wait_turn(request):
            return _error(499, "The client went away while waiting.")
        try:
            return await self._generate(parsed, request)
        finally:
            self.gate.lock.release()

    async def _wait_turn(self, request: Request) -> bool:
        """Hold the engine's lock (True), or False when the client went away while waiting for it."""
        task = asyncio.ensure_future(self.gate.lock.acquire())
        while not (await asyncio.wait({task}, timeout=0.25))[0]:
            if await request.is_disconnected():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    return False
                self.gate.lock.release()  # acquired just as it was cancelled
                return False
        return True

    async def _generate(self, parsed: Parsed, request: Request) -> Response:
        """The whole completion as one JSON answer (the caller holds the lock)."""
        splitter = OutputSplitter(parsed.request.tools, parsed.stop)
        gen = Generation(self.engine, parsed.request)
        parts: dict[str, list[Any]] = {"reasoning": [], "content": [], "tool_call": []}
        checked = time.monotonic()
        try:
            while True:
                try:
                    item = await gen.next(timeout=0.25)
                except TimeoutError:
                    item = ...
                if time.monotonic() - checked >= 0.25:  # a client that went away cancels its generation
                    checked = time.monotonic()
                    if await request.is_disconnected():
                        return _error(499, "The client went away.")
                if item is ...:
                    continue
                if item is None:
                    break
                for d in splitter.feed(item):
                    parts[d.kind].append(d.call if d.call is not None else d.text)
                if splitter.stopped:
                    gen.cancel.cancel()
        except GlmchatError as exc:
            return _error(500, exc.message, "server_error")
        finally:
            await gen.close()
        for d in splitter.finish():
            parts[d.kind].append(d.call if d.call is not None else d.text)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(parts["content"])}
        if parts["reasoning"]:
            message["reasoning_content"] = message["reasoning"] = "".join(parts["reasoning"])
        if parts["tool_call"]:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in parts["tool_call"]]
        usage = splitter.usage
        response = JSONResponse({"id": f"chatcmpl-{int(time.time() * 1000)}", "object": "chat.completion", "created": int(time.time()),
                                 "model": self.model, "usage": usage_dict(usage),
                                 "choices": [{"index": 0, "message": message, "finish_reason": splitter.finish_reason()}]})
        response.tokens = (usage.prompt_tokens, usage.completion_tokens)  # type: ignore[attr-defined]
        return response


def _delta(d: Any) -> dict[str, Any]:
    if d.kind == "reasoning":
        return {"reasoning_content": d.text, "reasoning": d.text}
    if d.kind == "content":
        return {"content": d.text}
    return {"tool_calls": [d.call]}
