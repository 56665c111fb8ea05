"""The web tools: web_fetch (a URL as readable Markdown) and web_search (the user's search endpoint).

Both are of risk class "network": they reach outside the machine, so they ask under the default
approval policy (glmchat.tools.policy), like write and execute tools. This is not `[tools] network`,
which gives or takes the network of the processes run_shell and python start (the sandbox).

web_fetch: http and https only; never this machine or its networks: a host that is, or connects to, a
loopback, private, link-local, carrier-grade-NAT or other non-public address is refused, the first URL
and every redirect (the address is checked on the connected socket, so a name that resolves one way
for the check and another for the request gains nothing), unless the user sets
`[tools.web] allow_private = true` (a page the model was given could otherwise point it at a router,
a cloud metadata service or a local dev server; through a proxy only IP literals are checked, the
proxy decides the rest). At most `MAX_REDIRECTS` redirects (each to http/https again); the
body read up to `MAX_DOWNLOAD` bytes (a bigger one is refused, a Content-Length over it before a
byte is read); a socket timeout and the call's deadline between chunks (a trickling server runs out
of time); only text types (HTML → Markdown through markdownify + BeautifulSoup, scripts and styles
left out; plain text, Markdown, JSON and XML as they are); a body holding NUL bytes is refused as
binary. The text the model gets has control, bidi and zero-width characters taken out.

web_search: GET `[tools.web] search_url` with `q=<query>&format=json` (SearxNG's JSON API: a
`results` list of title/url/content). Offered to the model only when search_url is set; the user
chose that URL, so it may be on this machine (a local SearxNG).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from glmchat.tools.base import Tool, ToolContext, ToolResult
from glmchat.tools.workspace import ToolError

MAX_DOWNLOAD = 2 * 1024 * 1024  # bytes of a page read at most
MAX_REDIRECTS = 5
SOCKET_TIMEOUT = 15.0  # seconds a read may wait for the next bytes
FETCH_OUTPUT_CAP = 40_000  # characters of a page handed to the model
MAX_RESULTS = 20
USER_AGENT = "glmchat (web_fetch)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-yaml",
              "application/yaml", "application/toml")
_CHUNK = 64 * 1024

# C0 controls but tab and newline, DEL, C1, zero-width and bidi controls, BOM: never handed on
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def check_web_settings(value: Any) -> str | None:
    """What is wrong with a `[tools.web]` table (naming the key), or None; settings.SCHEMA's check."""
    if not isinstance(value, dict):
        return 'must be a table: [tools.web] search_url = "http://localhost:8888/search"'
    for key, item in value.items():
        if key == "allow_private":
            if not isinstance(item, bool):
                return "allow_private must be true or false"
            continue
        if key != "search_url":
            return f"{key} is not a known setting (known: search_url, allow_private)"
        if not isinstance(item, str) or urllib.parse.urlsplit(item).scheme not in ("http", "https") or not urllib.parse.urlsplit(item).netloc:
            return 'search_url must be an http or https URL, e.g. "http://localhost:8888/search"'
    return None


def clean(text: str) -> str:
    """`text` without the characters a page could hide instructions or terminal tricks in."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


# ---- download -----------------------------------------------------------------------------------------


@dataclass
class Page:
    url: str  # after redirects
    content_type: str  # lower-case media type, no parameters
    charset: str | None
    body: bytes


def non_public(address: str) -> str | None:
    """What kind of non-public address `address` (an IP) is — "loopback", "private", "link-local",
    "multicast", "unspecified", "reserved" or "non-public" (e.g. 100.64.0.0/10) — or None for a
    public one. An IPv4 address written as IPv6 (::ffff:127.0.0.1) counts as itself."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def _refuse_address(url: str, host: str, address: str, kind: str) -> ToolError:
    where = host if host == address else f"{host} ({address})"
    return ToolError(f"Cannot fetch {url}: {where} is a {kind} address, and web_fetch does not reach this machine or its local network.",
                     "Fetch a public URL instead. If the user wants pages from the local network read, they can set "
                     "[tools.web] allow_private = true in config.toml.")


def _check_url(url: str, allow_private: bool) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ToolError(f"Cannot fetch {url!r}: only http:// and https:// URLs can be fetched.",
                        "Give a full URL such as https://example.com/page.")
    if not allow_private:
        try:
            kind = non_public(parts.hostname)
        except ValueError:  # a name: checked on the socket it connects (_CheckedHTTP, _CheckedHTTPS)
            kind = None
        if kind:
            raise _refuse_address(url, parts.hostname, parts.hostname, kind)
    return urllib.parse.urlunsplit(parts)


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        _check_url(newurl, self.allow_private)  # a redirect to file:, ftp:, a private address … is refused like the first URL
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_peer(conn: http.client.HTTPConnection) -> None:
    """Refuse a connection whose socket reached a non-public address (closed before a byte is sent)."""
    address = conn.sock.getpeername()[0]
    kind = non_public(address)
    if kind:
        conn.close()
        raise _refuse_address(f"http{'s' if isinstance(conn, http.client.HTTPSConnection) else ''}://{conn.host}", conn.host, address, kind)


class _CheckedHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)


class _CheckedHTTPS(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)


class _PublicHTTP(urllib.request.HTTPHandler):
    def do_open(self, http_class, req, **kw):  # type: ignore[no-untyped-def, override]
        return super().do_open(http_class if req.has_proxy() else _CheckedHTTP, req, **kw)


class _PublicHTTPS(urllib.request.HTTPSHandler):
    def do_open(self, http_class, req, **kw):  # type: ignore[no-untyped-def, override]
        return super().do_open(http_class if req.has_proxy() or req._tunnel_host else _CheckedHTTPS, req, **kw)


def _opener(allow_private: bool) -> urllib.request.OpenerDirector:
    if allow_private:
        return urllib.request.build_opener(_Redirects(True))
    return urllib.request.build_opener(_Redirects(False), _PublicHTTP(), _PublicHTTPS())


def download(url: str, ctx: ToolContext, max_bytes: int = MAX_DOWNLOAD, *, allow_private: bool = False) -> Page:
    """GET `url` (checked), following at most MAX_REDIRECTS redirects; raises ToolError the model can act on.
    Non-public addresses are refused unless `allow_private` (see the module docstring)."""
    url = _check_url(url, allow_private)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html, text/*;q=0.9, */*;q=0.1"})
    left = ctx.time_left()
    timeout = SOCKET_TIMEOUT if left is None else max(0.1, min(SOCKET_TIMEOUT, left))
    try:
        response = _opener(allow_private).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ToolError(f"{url} answered HTTP {exc.code} {exc.reason}.", "Check the URL, or try another page.") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ToolError):
            raise reason from None
        raise ToolError(f"Cannot fetch {url}: {reason}.", "Check the URL and that this machine can reach it.") from None
    except TimeoutError:
        raise ToolError(f"{url} did not answer within {timeout:g} s.", "Try again later or another page.") from None
    except (OSError, ValueError) as exc:  # a redirect loop (HTTPError above), a malformed answer
        raise ToolError(f"Cannot fetch {url}: {exc}.", "Check the URL.") from None
    with response:
        return _read(response, url, ctx, max_bytes)


def _read(response: Any, url: str, ctx: ToolContext, max_bytes: int) -> Page:
    headers: Message = response.headers
    final = response.geturl()
    length = headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_big(final, int(length), max_bytes)
    chunks: list[bytes] = []
    got = 0
    try:
        while True:
            _check_time(ctx, final)  # cancelled, or past the call's deadline (a server trickling bytes)
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            got += len(chunk)
            if got > max_bytes:
                raise _too_big(final, None, max_bytes)
            chunks.append(chunk)
    except TimeoutError:
        raise ToolError(f"{final} stopped sending (nothing for {SOCKET_TIMEOUT:g} s).", "Try again later.") from None
    except OSError as exc:
        raise ToolError(f"Reading {final} failed: {exc}.", "Try again.") from None
    media = (headers.get_content_type() or "").lower() if headers.get("Content-Type") else ""
    return Page(final, media, headers.get_content_charset(), b"".join(chunks))


def _check_time(ctx: ToolContext, url: str) -> None:
    if ctx.cancelled:
        raise ToolError("Cancelled by the user.", "The page was not read to its end.")
    left = ctx.time_left()
    if left is not None and left <= 0:
        raise ToolError(f"{url} did not finish sending within {ctx.timeout or 0:g} s; it was not read.", "Try again later or another page.")


def _too_big(url: str, size: int | None, cap: int) -> ToolError:
    from glmchat.units import size_text

    what = f" ({size_text(size)})" if size is not None else ""
    return ToolError(f"{url} is bigger than {size_text(cap)}{what}; it was not read.", "Fetch a smaller page.")


# ---- to text -------------------------------------------------------------------------------------------


def page_text(page: Page) -> str:
    """The page as text for the model: HTML as Markdown, other text types as they are; binaries refused."""
    media = page.content_type
    if media and not (media in HTML_TYPES or media.startswith(TEXT_TYPES) or media.endswith(("+xml", "+json"))):
        raise ToolError(f"{page.url} is {media}, not a text page; it was not read.", "Only HTML and text pages can be fetched.")
    if b"\x00" in page.body[:8192]:
        raise ToolError(f"{page.url} holds binary data; it was not read.", "Only HTML and text pages can be fetched.")
    if media in HTML_TYPES or (not media and page.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))):
        return clean(html_to_markdown(page.body, page.charset))
    return clean(page.body.decode(_codec(page.charset), errors="replace"))


def _codec(charset: str | None) -> str:
    import codecs

    try:
        return codecs.lookup(charset or "utf-8").name
    except LookupError:
        return "utf-8"


def html_to_markdown(body: bytes, charset: str | None = None) -> str:
    """HTML as Markdown (title first; scripts, styles, forms and embedded objects left out)."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(body, "html.parser", from_encoding=charset)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "svg", "iframe", "object", "embed", "form", "head"]):
        tag.decompose()
    text = MarkdownConverter(heading_style="ATX", bullets="-", strip=["img"]).convert_soup(soup)
    return f"# {title}\n\n{text}" if title and title not in text[:500] else text


def fetch(url: str, ctx: ToolContext, allow_private: bool = False) -> ToolResult:
    page = download(url, ctx, allow_private=allow_private)
    text = page_text(page)
    head = f"URL: {page.url}\nContent-Type: {page.content_type or 'unknown'}\n\n"
    return ToolResult(head + (text or "(the page has no text)"), ok=True, meta={"url": page.url, "bytes": len(page.body)})


# ---- search --------------------------------------------------------------------------------------------


def search_request_url(search_url: str, query: str) -> str:
    """`search_url` with q=<query>&format=json added to whatever query string it has."""
    parts = urllib.parse.urlsplit(search_url)
    params = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k not in ("q", "format")]
    params += [("q", query), ("format", "json")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(params)))


def search(search_url: str, query: str, limit: int, ctx: ToolContext) -> ToolResult:
    if not query.strip():
        raise ToolError("The search query is empty.", "Give the words to search for.")
    page = download(search_request_url(search_url, query.strip()), ctx, max_bytes=MAX_DOWNLOAD, allow_private=True)  # the user's own endpoint
    try:
        data = json.loads(page.body.decode(_codec(page.charset), errors="replace"))
    except ValueError:
        raise ToolError("The search endpoint did not answer JSON.", "Check [tools.web] search_url (a SearxNG with the json format enabled).") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ToolError("The search endpoint's answer has no results list.", "Check [tools.web] search_url (a SearxNG-style JSON API).")
    lines: list[str] = []
    for item in [r for r in results if isinstance(r, dict)][:limit]:
        title, link, snippet = (clean(str(item.get(k) or "")) for k in ("title", "url", "content"))
        lines.append(f"{len(lines) + 1}. {title or '(no title)'}\n   {link}" + (f"\n   {snippet}" if snippet else ""))
    if not lines:
        return ToolResult(f"No results for {query!r}.", ok=True)
    return ToolResult("\n".join(lines), ok=True, meta={"results": len(lines)})


# ---- the tools -----------------------------------------------------------------------------------------


def web_tools(web: dict[str, Any] | None = None) -> list[Tool]:
    """web_fetch, and web_search when `web` ([tools.web]) has a search_url; web_fetch reaches non-public
    addresses only with `allow_private = true` there."""
    allow_private = bool((web or {}).get("allow_private", False))
    tools = [
        Tool(
            "web_fetch",
            "Fetch a web page (http or https) and return its text as Markdown (HTML converted; plain text, JSON "
            "and XML as they are). Pages over 2 MiB and binary files are refused; long text is cut.",
            {
                "type": "object",
                "properties": {"url": {"type": "string", "description": "The full URL, e.g. https://example.com/page."}},
                "required": ["url"],
            },
            "network",
            lambda args, ctx: fetch(args["url"], ctx, allow_private),
            timeout=30.0,
            output_cap=FETCH_OUTPUT_CAP,
        )
    ]
    search_url = (web or {}).get("search_url")
    if search_url:
        tools.append(Tool(
            "web_search",
            "Search the web; returns numbered results with title, URL and a snippet. Fetch a result with web_fetch.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to search for."},
                    "max_results": {"type": "integer", "description": f"How many results (default 8, at most {MAX_RESULTS})."},
                },
                "required": ["query"],
            },
            "network",
            lambda args, ctx: search(search_url, args["query"], max(1, min(int(args.get("max_results", 8)), MAX_RESULTS)), ctx),
            timeout=30.0,
        ))
    return tools
