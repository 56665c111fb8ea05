"""A Hugging Face Hub look-alike on 127.0.0.1 for the hub tests.

It serves the model-info and tree APIs and `/{repo}/resolve/{rev}/{path}` (with Range → 206) for
small generated files under the real repo's names (a root GGUF per quant, the BF16 split in
`BF16/`), sends the Hub's ETag / X-Repo-Commit / X-Linked-* headers, counts the bytes it served, and
can be told to misbehave: cut a connection part-way, answer 401/404, serve wrong bytes, go slowly.

    with FakeHub() as hub:          # hub.url → set HF_ENDPOINT to it
        hub.cut_once["GLM-4.7-Flash-Q4_K_M.gguf"] = 0.6
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPO = "unsloth/GLM-4.7-Flash-GGUF"
COMMIT = "a" * 8 + "0123456789abcdef0123456789abcdef"
PREFIX = "GLM-4.7-Flash-"
BYTES_PER_GIB = 40_000  # a 16 GiB quant becomes a 650 KB file

# Real quant names and rough sizes (GiB) of the repo; BF16 is split in two shards.
QUANTS_GIB: dict[str, float] = {
    "UD-IQ1_S": 8.7, "UD-IQ2_XXS": 10.0, "UD-Q2_K_XL": 11.0, "Q3_K_M": 13.7, "UD-Q3_K_XL": 13.9,
    "IQ4_XS": 15.3, "Q4_K_S": 16.2, "UD-Q4_K_XL": 16.31, "Q4_K_M": 17.1, "Q5_K_M": 20.0,
    "UD-Q5_K_XL": 20.2, "Q6_K": 23.0, "UD-Q6_K_XL": 24.5, "Q8_0": 29.65, "UD-Q8_K_XL": 32.7, "BF16": 55.8,
}
SPLIT = {"BF16": 2}


@functools.lru_cache(maxsize=None)
def _content(path: str, size: int) -> bytes:
    return random.Random(path).randbytes(size)


@dataclass
class FakeFile:
    path: str
    data: bytes

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


def repo_files(quants: dict[str, float] | None = None, bytes_per_gib: int = BYTES_PER_GIB) -> list[FakeFile]:
    out = []
    for name, gib in (quants or QUANTS_GIB).items():
        size = int(gib * bytes_per_gib)
        n = SPLIT.get(name, 1)
        if n == 1:
            paths = [(f"{PREFIX}{name}.gguf", size)]
        else:
            paths = [(f"{name}/{PREFIX}{name}-{i:05d}-of-{n:05d}.gguf", size // n + i) for i in range(1, n + 1)]
        out += [FakeFile(p, _content(p, s)) for p, s in paths]
    return out


class FakeHub:
    """Threaded server; the public attributes below steer it and record what happened."""

    def __init__(self, files: list[FakeFile] | None = None, repo: str = REPO, commit: str = COMMIT) -> None:
        self.repo = repo
        self.commit = commit
        self.files = {f.path: f for f in (files if files is not None else repo_files())}
        self.extra = {"README.md": b"# fake\n", ".gitattributes": b"*.gguf filter=lfs\n"}
        # faults
        self.status: int | None = None  # answer every request with this status (401, 404, 500, …)
        self.repo_exists = True  # False: unknown repo (401 + X-Error-Code: RepoNotFound, like the Hub)
        self.token: str | None = None  # when set, requests without "Bearer <token>" get 401
        self.cut_once: dict[str, float] = {}  # path → fraction of the file after which ONE response is cut
        self.cut_always: dict[str, int] = {}  # path → bytes sent per response before cutting, every time
        self.corrupt: set[str] = set()  # paths served with one byte flipped
        self.ignore_range = False  # answer Range requests with the whole file (200)
        self.throttle: float | None = None  # bytes per second per response
        self.info_without_lfs = False  # model info lacks LFS data → the client must use the tree API
        self.tree_page_size: int | None = None  # paginate the tree API with Link headers
        # records
        self.served: dict[str, int] = {}  # path → body bytes written to sockets
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def file(self, path_or_quant: str) -> FakeFile:
        if path_or_quant in self.files:
            return self.files[path_or_quant]
        return self.files[f"{PREFIX}{path_or_quant}.gguf"]

    def total_served(self, path: str | None = None) -> int:
        with self.lock:
            return self.served.get(path, 0) if path else sum(self.served.values())

    def start(self) -> "FakeHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- API bodies ----------------------------------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        siblings: list[dict[str, Any]] = [
            {"rfilename": p, "size": len(b), "blobId": hashlib.sha1(b).hexdigest()} for p, b in self.extra.items()
        ]
        for f in self.files.values():
            s: dict[str, Any] = {"rfilename": f.path, "size": f.size, "blobId": hashlib.sha1(f.path.encode()).hexdigest()}
            if not self.info_without_lfs:
                s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 135}
            siblings.append(s)
        return {"_id": "x", "id": self.repo, "modelId": self.repo, "sha": self.commit, "private": False, "siblings": siblings}

    def tree(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = [
            {"type": "file", "oid": hashlib.sha1(b).hexdigest(), "size": len(b), "path": p} for p, b in self.extra.items()
        ]
        dirs = sorted({f.path.rsplit("/", 1)[0] for f in self.files.values() if "/" in f.path})
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in dirs]
        for f in self.files.values():
            entries.append(
                {"type": "file", "oid": hashlib.sha1(f.path.encode()).hexdigest(), "size": f.size, "path": f.path,
                 "lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 135}}
            )
        return entries


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _error(self, code: int, error_code: str | None = None, message: str = "error") -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            if error_code:
                self.send_header("X-Error-Code", error_code)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.close_connection = True

        def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            with hub.lock:
                hub.requests.append((self.command, self.path, dict(self.headers.items())))
            if hub.status is not None:
                return self._error(hub.status, None, f"status {hub.status}")
            if hub.token is not None and self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self._error(401, None, "Invalid credentials in Authorization header")
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            query = urllib.parse.parse_qs(url.query)
            api = f"/api/models/{hub.repo}"
            if path.startswith("/api/models/") or path.startswith(f"/{hub.repo}/resolve/") or "/resolve/" in path:
                if not (path.startswith(api) or path.startswith(f"/{hub.repo}/")):
                    return self._error(401, "RepoNotFound", "Repository not found")
                if not hub.repo_exists:
                    return self._error(401, "RepoNotFound", "Repository not found")
            if path in (api, f"{api}/revision/main", f"{api}/revision/{hub.commit}"):
                return self._json(hub.model_info())
            m = re.fullmatch(re.escape(api) + r"/tree/([^/]+)(?:/.*)?", path)
            if m:
                entries = hub.tree()
                if hub.tree_page_size:
                    start = int(query.get("cursor", ["0"])[0])
                    page = entries[start : start + hub.tree_page_size]
                    headers = {}
                    if start + hub.tree_page_size < len(entries):
                        nxt = f"{hub.url}{url.path}?recursive=true&cursor={start + hub.tree_page_size}"
                        headers["Link"] = f'<{nxt}>; rel="next"'
                    return self._json(page, headers)
                return self._json(entries)
            m = re.fullmatch("/" + re.escape(hub.repo) + r"/resolve/([^/]+)/(.+)", path)
            if m:
                rev, fpath = m.groups()
                if rev not in ("main", hub.commit):
                    return self._error(404, "RevisionNotFound", "Revision not found")
                f = hub.files.get(fpath)
                if f is None:
                    return self._error(404, "EntryNotFound", f"Entry not found: {fpath}")
                return self._send_file(f)
            return self._error(404, None, "not found")

        def _send_file(self, f: FakeFile) -> None:
            data = f.data
            if f.path in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start, status = 0, 200
            rng = self.headers.get("Range")
            if rng and not hub.ignore_range:
                m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                if m:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.send_header("Connection", "close")
                        self.end_headers()
                        return
                    status = 206
            body_len = len(data) - start
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(body_len))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("ETag", f'"{f.sha256}"')
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(f.size))
            self.send_header("X-Repo-Commit", hub.commit)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command == "HEAD":
                return
            stop = len(data)
            with hub.lock:
                frac = hub.cut_once.pop(f.path, None)
                always = hub.cut_always.get(f.path)
            if frac is not None:
                stop = max(start, int(len(data) * frac))
            if always is not None:
                stop = min(stop, start + always)
            pos, piece = start, 16 * 1024
            try:
                while pos < stop:
                    n = min(piece, stop - pos)
                    self.wfile.write(data[pos : pos + n])
                    self.wfile.flush()
                    with hub.lock:
                        hub.served[f.path] = hub.served.get(f.path, 0) + n
                    pos += n
                    if hub.throttle:
                        time.sleep(n / hub.throttle)
            except (BrokenPipeError, ConnectionResetError):
                return
            # a cut: drop the connection without sending the rest
            if stop < len(data):
                try:
                    import socket

                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    """python -m tests.fake_hub [--serve QUANT=FILE] [--throttle BYTES_PER_S]: serve, print the URL, wait.

    --serve puts a real file (e.g. SmolLM2) in the repo under QUANT's name, so a first run can download
    something that loads (tests/tmux_drive.sh); --throttle slows every response down.
    """
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m tests.fake_hub")
    ap.add_argument("--serve", action="append", default=[], metavar="QUANT=FILE")
    ap.add_argument("--throttle", type=float, default=None, metavar="BYTES_PER_S")
    args = ap.parse_args(argv)
    files = None
    if args.serve:
        files = []
        for item in args.serve:
            quant, _, path = item.partition("=")
            files.append(FakeFile(f"{PREFIX}{quant}.gguf", Path(path).read_bytes()))
    with FakeHub(files) as h:
        h.throttle = args.throttle
        print(h.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":  # manual poking and the tmux drive: python -m tests.fake_hub
    main()


# ---- what the hub tests share ---------------------------------------------------------------------------

Q4 = f"{PREFIX}Q4_K_M.gguf"
BF16_1 = f"BF16/{PREFIX}BF16-00001-of-00002.gguf"
BF16_2 = f"BF16/{PREFIX}BF16-00002-of-00002.gguf"


def use_fake_hub(hub: FakeHub, monkeypatch) -> FakeHub:
    """Point huggingface_hub and glmchat's downloader at `hub`: no token, not offline, short retry delays."""
    import glmchat.hub.downloader as dl

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dl, "RETRY_DELAYS", (0.01, 0.01, 0.01))
    return hub


def resolve_requests(hub: FakeHub, path: str | None = None) -> list[str]:
    """The file downloads `hub` was asked for (all, or those of `path`)."""
    return [p for _, p, _ in hub.requests if "/resolve/" in p and (path is None or p.endswith(path.rsplit("/", 1)[-1]))]
