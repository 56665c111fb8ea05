"""A scripted OpenAI-compatible server for tests: replays chunk sequences shaped as vLLM and SGLang send them.

    with ScriptedServer() as srv:
        srv.reply(SSE(vllm_chunks(reasoning=["Let me"], content=["Hi"])))
        engine = RemoteEngine(srv.base_url)
        ...
        srv.requests[-1]  # the JSON body the engine POSTed

Replies are consumed in order, one per POST /chat/completions; when none is queued the default
reply (a short vLLM answer) is used. GET /models lists `models` (404 with `list_models=False`);
GET /props answers `props` as llama-server does (404 when None); POST /extras/tokenize answers with
`tokenize(text)` as llama-cpp-python's server does (404 when None). Faults: `Error(status, body)`,
`Hang()` (accepts and never answers), `SSE(..., cut=True)` (connection dropped mid-stream),
`SSE(..., stall=True)` (chunks sent, then silence with the connection open), `Flood()` (one line
that never ends).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GLM = "zai-org/GLM-4.7-Flash"

# ---- reply scripts -------------------------------------------------------------------------------


@dataclass
class SSE:
    chunks: list[dict[str, Any]]
    done: bool = True  # send `data: [DONE]` at the end
    cut: bool = False  # drop the connection after the chunks (no [DONE], no last HTTP chunk)
    stall: bool = False  # after the chunks, keep the connection open and send nothing
    delay: float = 0.0  # seconds between chunks


@dataclass
class Error:
    status: int
    body: dict[str, Any] | str


@dataclass
class Hang:
    seconds: float = 30.0  # answer nothing for this long (or until the server stops)


@dataclass
class Flood:
    """A 200 event stream whose first line never ends: `data: xxxx…` with no newline, sent until the
    client hangs up (or `limit` bytes, or the server stops). `sent` counts the bytes it got out."""

    limit: int = 1 << 40
    piece: int = 256 * 1024
    sent: int = 0


# ---- chunk builders ------------------------------------------------------------------------------


def _frame(cid: str, model: str, created: int) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}


def vllm_chunks(
    *,
    reasoning: list[str] = (),
    content: list[str] = (),
    tools: list[tuple[str, list[str]]] = (),
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = (12, 5),
    cached: int | None = None,
    model: str = GLM,
    reasoning_key: str = "reasoning",
) -> list[dict[str, Any]]:
    """Chunks as vLLM (0.11+, `--reasoning-parser glm45 --tool-call-parser glm47`) streams them.

    Reasoning in `delta.reasoning`; a tool call's id, type and name in its first fragment, the
    arguments in later string fragments, the last fragment inside the `finish_reason` chunk; with
    `include_usage` a final chunk with empty `choices` carries the usage.
    """
    cid = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        c = _frame(cid, model, created)
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = None
        c["choices"] = [choice]
        return c

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({reasoning_key: r}) for r in reasoning]
    out += [chunk({"content": t}) for t in content]
    last: dict[str, Any] = {"content": ""}
    for index, (name, fragments) in enumerate(tools):
        call_id = "chatcmpl-tool-" + uuid.uuid4().hex[:16]
        out.append(chunk({"tool_calls": [{"id": call_id, "type": "function", "index": index, "function": {"name": name}}]}))
        frags = list(fragments)
        tail = frags.pop() if frags and index == len(tools) - 1 else None
        out += [chunk({"tool_calls": [{"index": index, "function": {"arguments": f}}]}) for f in frags]
        if tail is not None:
            last = {"tool_calls": [{"index": index, "function": {"arguments": tail}}]}
    out.append(chunk(last, finish_reason or ("tool_calls" if tools else "stop")))
    if usage is not None:
        u: dict[str, Any] = {"prompt_tokens": usage[0], "total_tokens": usage[0] + usage[1], "completion_tokens": usage[1]}
        if cached is not None:
            u["prompt_tokens_details"] = {"cached_tokens": cached}
        c = _frame(cid, model, created)
        c["choices"] = []
        c["usage"] = u
        out.append(c)
    return out


def sglang_chunks(
    *,
    reasoning: list[str] = (),
    content: list[str] = (),
    tools: list[tuple[str, list[str]]] = (),
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = (12, 5),
    model: str = GLM,
) -> list[dict[str, Any]]:
    """Chunks as SGLang (`--reasoning-parser glm45 --tool-call-parser glm47`) streams them.

    Every delta lists all fields (unused ones null); reasoning in `delta.reasoning_content`; a tool
    call's id and name first with `arguments: ""`, then fragments with `id`/`name` null; the finish
    chunk has an all-null delta and `matched_stop`; `usage: null` on every chunk but the last.
    """
    cid = uuid.uuid4().hex
    created = int(time.time())

    def chunk(finish: str | None = None, **delta: Any) -> dict[str, Any]:
        d = {"role": None, "content": None, "reasoning_content": None, "tool_calls": None}
        d.update(delta)
        c = _frame(cid, model, created)
        c["choices"] = [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish, "matched_stop": None}]
        c["usage"] = None
        return c

    out = [chunk(role="assistant", content="")]
    out += [chunk(reasoning_content=r) for r in reasoning]
    out += [chunk(content=t) for t in content]
    for index, (name, fragments) in enumerate(tools):
        call_id = "call_" + uuid.uuid4().hex[:24]
        out.append(chunk(tool_calls=[{"id": call_id, "index": index, "type": "function", "function": {"name": name, "arguments": ""}}]))
        out += [
            chunk(tool_calls=[{"id": None, "index": index, "type": "function", "function": {"name": None, "arguments": f}}])
            for f in fragments
        ]
    out.append(chunk(finish_reason or ("tool_calls" if tools else "stop")))
    if usage is not None:
        c = _frame(cid, model, created)
        c["choices"] = []
        c["usage"] = {"prompt_tokens": usage[0], "total_tokens": usage[0] + usage[1], "completion_tokens": usage[1], "prompt_tokens_details": None}
        out.append(c)
    return out


def openai_error(message: str, type_: str, code: int, param: str | None = None) -> dict[str, Any]:
    """An error body as vLLM and SGLang send it."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# ---- the server ----------------------------------------------------------------------------------


@dataclass
class _State:
    models: list[dict[str, Any]]
    api_key: str | None = None
    strict_model: bool = True
    props: dict[str, Any] | None = None  # llama-server's GET /props (its chat_template); None: 404
    list_models: bool = True  # False: GET /v1/models answers 404
    tokenize: Any = None  # text -> list of token ids, for POST /extras/tokenize; None: 404
    replies: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, body: Any) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        key = self.server.state.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, {"error": "Unauthorized"})  # vLLM's --api-key answer
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        st = self.server.state
        if self.path.rstrip("/") == "/v1/models" and st.list_models:
            self._json(200, {"object": "list", "data": st.models})
        elif self.path.split("?")[0] == "/props" and st.props is not None:
            self._json(200, st.props)
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        st = self.server.state
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        with st.lock:
            st.requests.append(body)
            st.headers.append(dict(self.headers))
        if not self._authorised():
            return
        if self.path == "/extras/tokenize" and st.tokenize is not None:
            self._json(200, {"tokens": st.tokenize(body.get("input", ""))})
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"detail": "Not Found"})
            return
        with st.lock:
            reply = st.replies.pop(0) if st.replies else SSE(vllm_chunks(content=["Hello", "!"]))
        served = [m["id"] for m in st.models]
        if st.strict_model and body.get("model") not in served and not isinstance(reply, Error):
            msg = f"The model `{body.get('model')}` does not exist."
            self._json(404, openai_error(msg, "NotFoundError", 404))
            return
        if isinstance(reply, Error):
            self._json(reply.status, reply.body)
        elif isinstance(reply, Hang):
            st.stopping.wait(reply.seconds)
            self.close_connection = True
        elif isinstance(reply, Flood):
            self._flood(reply)
        else:
            self._sse(reply)

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _flood(self, reply: Flood) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        piece = b"x" * reply.piece
        try:
            self._send_chunk(b"data: ")
            while reply.sent < reply.limit and not self.server.state.stopping.is_set():
                self._send_chunk(piece)
                reply.sent += len(piece)
        except OSError:  # the client hung up
            pass

    def _sse(self, reply: SSE) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        st = self.server.state
        try:
            for c in reply.chunks:
                if reply.delay:
                    if st.stopping.wait(reply.delay):
                        break
                self._send_chunk(b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n")
            if reply.stall:
                st.stopping.wait(30)
                self.close_connection = True
                return
            if reply.cut:
                self.close_connection = True
                return
            if reply.done:
                self._send_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class ScriptedServer:
    """A threaded OpenAI-compatible server on 127.0.0.1 that replays scripted replies."""

    def __init__(
        self,
        models: list[dict[str, Any]] | None = None,
        api_key: str | None = None,
        strict_model: bool = True,
        props: dict[str, Any] | None = None,
        list_models: bool = True,
        tokenize: Any = None,
    ):
        if models is None:
            models = [{"id": GLM, "object": "model", "created": 0, "owned_by": "vllm", "root": GLM, "parent": None, "max_model_len": 202752}]
        self.state = _State(models=models, api_key=api_key, strict_model=strict_model, props=props, list_models=list_models, tokenize=tokenize)
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self.state
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def headers(self) -> list[dict[str, str]]:
        return self.state.headers

    def reply(self, *replies: Any) -> None:
        """Queue replies for the next POSTs, in order."""
        with self.state.lock:
            self.state.replies.extend(replies)

    def start(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
