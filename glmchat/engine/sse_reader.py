"""Reading a server-sent-events answer on its own thread, so cancelling never waits on a socket.

`SseReader` POSTs one request and puts what comes back on a queue, line by line; `parse_sse_line`
turns one line into a JSON chunk. Used by `glmchat.engine.remote` for OpenAI-style chat streams.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
from typing import Any, Callable

MAX_ERROR_BODY = 64 * 1024  # of a non-200 answer: enough for any error message, the rest is not read
MAX_LINE = 8 * 1024 * 1024  # one event-stream line; a longer one (no newline in sight) ends the stream
MAX_BODY = 4 * 1024 * 1024  # a plain (non-streaming) answer such as GET /models


class ResponseTooLarge(Exception):
    """The server sent more than glmchat reads in one piece: `what` ("a line …") over `limit` bytes."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} over {limit} bytes")
        self.what = what
        self.limit = limit


def read_capped(resp: http.client.HTTPResponse, limit: int = MAX_BODY, what: str = "an answer") -> bytes:
    """The whole body of `resp`, or ResponseTooLarge when it is longer than `limit` (never more read)."""
    body = resp.read(limit + 1)
    if len(body) > limit:
        raise ResponseTooLarge(what, limit)
    return body


class SseReader(threading.Thread):
    """POSTs the request and puts what comes back on a queue, line by line.

    Queue items: ("status", code, body) for a non-200 answer (the body's first `MAX_ERROR_BODY`
    bytes), ("line", bytes), ("eof",) and ("error", exc) — `ResponseTooLarge` for a line over
    `MAX_LINE` bytes —, or ("closed",) once `close()` was called. `close()` (from any thread) shuts the socket so a blocked read returns at once.
    `connect` makes the (not yet connected) connection; `path` is the URL path to POST to.
    """

    def __init__(self, connect: Callable[[], http.client.HTTPConnection], path: str, body: bytes, headers: dict[str, str]):
        super().__init__(name="glmchat-remote-stream", daemon=True)
        self.connect = connect
        self.path = path
        self.body = body
        self.headers = headers
        self.items: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None

    def run(self) -> None:
        try:
            conn = self.connect()
            with self._lock:
                if self._closed.is_set():
                    self.items.put(("closed",))
                    return
                self._conn = conn
            conn.connect()
            with self._lock:
                self._sock = conn.sock
                if self._closed.is_set():
                    self._shutdown()
                    self.items.put(("closed",))
                    return
            conn.request("POST", self.path, body=self.body, headers=self.headers)
            resp = conn.getresponse()
            if resp.status != 200:
                self.items.put(("status", resp.status, resp.read(MAX_ERROR_BODY)))
                return
            while True:
                line = resp.readline(MAX_LINE + 1)  # bounded: a server that never sends a newline cannot fill memory
                if not line:
                    self.items.put(("closed",) if self._closed.is_set() else ("eof",))
                    return
                if len(line) > MAX_LINE:
                    raise ResponseTooLarge("an event-stream line", MAX_LINE)
                self.items.put(("line", line))
        except http.client.IncompleteRead:
            self.items.put(("closed",) if self._closed.is_set() else ("eof",))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self.items.put(("closed",) if self._closed.is_set() else ("error", exc))

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._shutdown()


def parse_sse_line(line: bytes) -> dict[str, Any] | str | None:
    """One SSE line → a JSON chunk, "[DONE]", or None (comments, event names, blank lines).

    OpenAI-compatible servers put one whole JSON object on each `data:` line, so each is decoded alone.
    """
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    if not text.startswith("data:"):
        return None
    data = text[5:].strip()
    if not data:
        return None
    if data == "[DONE]":
        return "[DONE]"
    try:
        chunk = json.loads(data)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None
