"""web_fetch and web_search against a loopback HTTP server: the page's text comes back as Markdown,
it asks first (risk "network"), oversize / slow / binary / non-http / bad redirects are refused with a
reason, and web_search is offered only once `[tools.web] search_url` is set. The loopback server is
reachable only with `allow_private`: by default web_fetch refuses this machine and local networks."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ConfigError
from glmchat.session import ChatSession, ToolResultEvent
from glmchat.settings import config_path, load_settings
from glmchat.tools import (
    Decision,
    ToolContext,
    ToolRegistry,
    Workspace,
    headless_approval,
)
from glmchat.tools import web
from glmchat.tools.web import MAX_DOWNLOAD, non_public

PAGE = b"""<!doctype html><html><head><title>Loopback page</title><style>body{color:red}</style>
<script>alert("steal")</script></head><body><h1>Hello from loopback</h1>
<p>Some <b>bold</b> text and <a href="/next">a link</a>.</p><ul><li>one</li><li>two</li></ul>
<form><input name=q></form></body></html>"""

SEARCH = {"results": [
    {"title": "First hit", "url": "https://one.example/", "content": "About the first."},
    {"title": "Second hit", "url": "https://two.example/", "content": "About \x1b[31mthe\u202e second."},
    {"title": "Third hit", "url": "https://three.example/", "content": ""},
]}


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def send(self, body: bytes, ctype: str = "text/html; charset=utf-8", status: int = 200, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        Handler.seen.append(self.path)
        path, _, query = self.path.partition("?")
        if path == "/page":
            self.send(PAGE)
        elif path == "/text":
            self.send("plain \x1b]52;c;aGk=\x07text\u202e with tricks\r\nline two".encode(), "text/plain; charset=utf-8")
        elif path == "/big":
            self.send(b"x" * 100, "text/plain", length=MAX_DOWNLOAD + 1)
        elif path == "/endless":  # no Content-Length: read until the cap
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(MAX_DOWNLOAD // 65536 + 4):
                    self.wfile.write(b"y" * 65536)
            except OSError:
                pass
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/image":
            self.send(b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")
        elif path == "/nul":
            self.send(b"text\x00with\x00nul", "text/plain")
        elif path == "/moved":
            self.redirect("/page")
        elif path == "/loop":
            self.redirect("/loop")
        elif path == "/to-file":
            self.redirect("file:///etc/passwd")
        elif path == "/to-ftp":
            self.redirect("ftp://127.0.0.1/x")
        elif path == "/to-metadata":
            self.redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/missing":
            self.send(b"no", "text/plain", status=404)
        elif path == "/search":
            params = dict(urllib.parse.parse_qsl(query))
            body = SEARCH if params.get("format") == "json" and params.get("q") else {"error": "bad"}
            self.send(json.dumps(body).encode(), "application/json")
        elif path == "/not-json":
            self.send(b"<html>no</html>")
        else:
            self.send(b"?", "text/plain", status=404)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=Workspace(tmp_path), timeout=10.0)


def fetch(url: str, ctx: ToolContext, allow_private: bool = True):
    return ToolRegistry.builtin({"allow_private": allow_private}).execute("web_fetch", {"url": url}, ctx)


def test_fetch_returns_the_page_as_markdown(server, ctx):
    result = fetch(f"{server}/page", ctx)
    assert result.ok, result.error
    text = result.output
    assert text.startswith(f"URL: {server}/page\nContent-Type: text/html")
    assert "# Hello from loopback" in text and "**bold**" in text and "[a link](/next)" in text and "- one" in text
    assert "Loopback page" in text
    assert "alert" not in text and "color:red" not in text and "<" not in text


def test_fetch_follows_a_redirect_and_reports_where_it_ended(server, ctx):
    result = fetch(f"{server}/moved", ctx)
    assert result.ok and result.output.startswith(f"URL: {server}/page") and "Hello from loopback" in result.output


def test_text_is_sanitized(server, ctx):
    result = fetch(f"{server}/text", ctx)
    assert result.ok
    body = result.output.split("\n\n", 1)[1]
    assert body == "plain ]52;c;aGk=text with tricks\nline two"


@pytest.mark.parametrize("page, words", [
    ("/big", "bigger than 2.0 MiB"),
    ("/endless", "bigger than 2.0 MiB"),
    ("/image", "image/png, not a text page"),
    ("/nul", "binary data"),
    ("/loop", "HTTP 302"),
    ("/to-file", "Redirection to url 'file:///etc/passwd' is not allowed"),  # urllib's own refusal
    ("/to-ftp", "only http:// and https://"),  # urllib would follow ftp: glmchat does not
    ("/missing", "HTTP 404"),
])
def test_what_cannot_be_read_is_refused_with_a_reason(server, ctx, page, words):
    result = fetch(f"{server}{page}", ctx)
    assert not result.ok and words in result.error


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)", "example.com", ""])
def test_only_http_urls_are_fetched(ctx, url):
    result = fetch(url, ctx)
    assert not result.ok and "only http:// and https://" in result.error


def test_a_slow_server_runs_out_of_time(server, tmp_path):
    started = time.monotonic()
    result = fetch(f"{server}/slow", ToolContext(workspace=Workspace(tmp_path), timeout=1.0))
    assert not result.ok and "did not finish sending within 1 s" in result.error
    assert time.monotonic() - started < 3


def test_search_lists_the_endpoints_results(server, ctx):
    reg = ToolRegistry.builtin({"search_url": f"{server}/search?lang=en"})
    result = reg.execute("web_search", {"query": "glm tools", "max_results": 2}, ctx)
    assert result.ok, result.error
    assert result.output == ("1. First hit\n   https://one.example/\n   About the first.\n"
                             "2. Second hit\n   https://two.example/\n   About [31mthe second.")
    asked = [p for p in Handler.seen if p.startswith("/search")][-1]
    assert dict(urllib.parse.parse_qsl(asked.partition("?")[2])) == {"lang": "en", "q": "glm tools", "format": "json"}


def test_search_that_does_not_answer_json_says_so(server, ctx):
    result = ToolRegistry.builtin({"search_url": f"{server}/not-json"}).execute("web_search", {"query": "x"}, ctx)
    assert not result.ok and "did not answer JSON" in result.error


def test_web_search_is_offered_only_once_configured(tmp_path, server):
    assert "web_search" not in ToolRegistry.builtin().names() and "web_fetch" in ToolRegistry.builtin().names()
    for text, offered in (("", False), (f'[tools.web]\nsearch_url = "{server}/search"\n', True)):
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        engine = ScriptedEngine(["Nothing to do.</think>Hi."])
        session = ChatSession(engine, load_settings(), tools_enabled=True, workspace=Workspace(tmp_path))
        list(session.send("hello"))
        names = [t["function"]["name"] for t in engine.requests[0].tools]
        assert ("web_search" in names) is offered and "web_fetch" in names


def test_bad_web_settings_name_the_key():
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[tools.web]\nsearch_url = "ftp://x/"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.toml:1: tools.web search_url must be an http or https URL"):
        load_settings()
    path.write_text('[tools.web]\nendpoint = "http://x/"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tools.web endpoint is not a known setting"):
        load_settings()


def call_fetch(url: str) -> str:
    return f"Fetch.</think><tool_call>web_fetch<arg_key>url</arg_key><arg_value>{url}</arg_value></tool_call>"


def test_fetch_asks_first_under_the_default_policy(server, tmp_path):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[tools.web]\nallow_private = true\n", encoding="utf-8")  # the server is on loopback
    asked = []

    def approver(call, risk, preview):
        asked.append((call.name, risk, preview))
        return Decision.allow_once()

    engine = ScriptedEngine([call_fetch(f"{server}/page"), "Read.</think>It says hello."])
    session = ChatSession(engine, load_settings(), tools_enabled=True, workspace=Workspace(tmp_path), approver=approver)
    results = [e for e in session.send("read the page") if isinstance(e, ToolResultEvent)]
    assert session.approve_policy == "auto-read"
    assert [(n, r) for n, r, _ in asked] == [("web_fetch", "network")] and f"{server}/page" in asked[0][2]
    assert results[0].decision == "allow_once" and "Hello from loopback" in engine.requests[1].messages[-1]["content"]


def test_fetch_headless_without_yes_is_denied(server, tmp_path):
    before = len(Handler.seen)
    headless = headless_approval(False, "auto")
    engine = ScriptedEngine([call_fetch(f"{server}/page"), "Done.</think>No."])
    session = ChatSession(engine, load_settings(), tools_enabled=True, workspace=Workspace(tmp_path),
                          approver=headless.approver, approve_policy=headless.policy)
    results = [e for e in session.send("read the page") if isinstance(e, ToolResultEvent)]
    assert results[0].decision == "deny" and len(Handler.seen) == before  # no request was made


# ---- this machine and its networks -----------------------------------------------------------------


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.9", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
    ("fd00::5", "private"), ("0.0.0.0", "unspecified"), ("224.0.0.251", "multicast"), ("100.64.0.1", "non-public"),
    ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("93.184.215.14", None),
])
def test_addresses_are_told_apart(address, kind):
    assert non_public(address) == kind


def test_fetch_refuses_this_machine_by_default_before_a_request_is_made(server, ctx):
    before = len(Handler.seen)
    port = urllib.parse.urlsplit(server).port
    literal = fetch(f"{server}/page", ctx, allow_private=False)
    assert not literal.ok and "127.0.0.1 is a loopback address" in literal.error and "allow_private = true" in literal.error
    named = fetch(f"http://localhost:{port}/page", ctx, allow_private=False)  # a name: refused on the connected socket
    assert not named.ok and "loopback address" in named.error and "localhost" in named.error
    assert len(Handler.seen) == before  # not one request reached the server


def test_a_redirect_to_a_private_address_is_refused(server, ctx, monkeypatch):
    real = web.non_public
    monkeypatch.setattr(web, "non_public", lambda a: None if a == "127.0.0.1" else real(a))  # the test server plays a public site
    result = fetch(f"{server}/to-metadata", ctx, allow_private=False)
    assert not result.ok and "169.254.169.254 is a link-local address" in result.error
    assert fetch(f"{server}/page", ctx, allow_private=False).ok  # the same server, public for this test, is read


def test_allow_private_must_be_a_boolean():
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[tools.web]\nallow_private = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tools.web allow_private must be true or false"):
        load_settings()
    path.write_text("[tools.web]\nallow_private = true\n", encoding="utf-8")
    assert load_settings().tools.web == {"allow_private": True}
