"""Talking to the Hugging Face Hub (or a mirror under HF_ENDPOINT): URLs, token, errors.

Everything is read from the environment at call time, so tests (and users) can point HF_ENDPOINT at
another server. The token goes only to the endpoint's host: a redirect to a CDN drops it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from glmchat import __version__
from glmchat.hub.errors import HubAuthError, HubError, HubNotFoundError, HubUnreachable

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO = "unsloth/GLM-4.7-Flash-GGUF"
TIMEOUT = float(os.environ.get("GLMCHAT_HUB_TIMEOUT", "30"))

# What counts as "the network failed" (as opposed to the server answering with an error status).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
)


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hf_home() -> Path:
    env = os.environ.get("HF_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def token() -> str | None:
    """HF_TOKEN, else the file `hf auth login` writes (HF_TOKEN_PATH or HF_HOME/token)."""
    tok = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if tok:
        return tok.strip() or None
    path = Path(os.environ.get("HF_TOKEN_PATH") or hf_home() / "token").expanduser()
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class _RedirectKeepingAuthOnSameHost(urllib.request.HTTPRedirectHandler):
    """Follow redirects; carry Authorization only while the host stays the same."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            auth = req.unredirected_hdrs.get("Authorization")
            if auth and urllib.parse.urlsplit(newurl).netloc == urllib.parse.urlsplit(req.full_url).netloc:
                new.add_unredirected_header("Authorization", auth)
        return new


_opener = urllib.request.build_opener(_RedirectKeepingAuthOnSameHost())


def open_url(url: str, headers: dict[str, str] | None = None, timeout: float | None = None) -> http.client.HTTPResponse:
    """GET `url` with the user agent and token. HTTP errors raise urllib.error.HTTPError."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise HubError(f"HF_ENDPOINT {endpoint()!r} is not a usable URL.", "Set it to e.g. https://huggingface.co or unset it.")
    req = urllib.request.Request(url, headers={"User-Agent": f"glmchat/{__version__}", **(headers or {})})
    tok = token()
    if tok:
        req.add_unredirected_header("Authorization", f"Bearer {tok}")
    return _opener.open(req, timeout=timeout or TIMEOUT)


def status_error(exc: urllib.error.HTTPError, what: str, repo: str = REPO) -> HubError:
    """Turn an HTTP error status into a HubError naming what failed."""
    code = exc.code
    kind = exc.headers.get("X-Error-Code", "") if exc.headers else ""
    where = endpoint()
    if kind == "RepoNotFound" or (code == 404 and what == "catalog"):
        return HubNotFoundError(
            f"Repository {repo} was not found on {where} (HTTP {code}).",
            "Check HF_ENDPOINT; for a private or gated repository set HF_TOKEN to a token with access.",
        )
    if code in (401, 403):
        has_token = token() is not None
        return HubAuthError(
            f"{where} refused access to {repo} ({what}, HTTP {code}).",
            "Your HF_TOKEN was rejected or lacks access; check it on the Hub." if has_token
            else "Set HF_TOKEN to a Hugging Face access token with read access.",
        )
    if code == 404:
        return HubNotFoundError(
            f"{what} was not found in {repo} on {where} (HTTP 404).",
            "The repository changed; run `glmchat models` to refresh the catalog and try again.",
        )
    if code >= 500:
        return HubUnreachable(f"{where} answered HTTP {code} for {what}.", "The Hub is having trouble; try again later.")
    return HubError(f"{where} answered HTTP {code} for {what}.", "Check HF_ENDPOINT points at a Hugging Face Hub.")


def network_error(exc: BaseException, what: str) -> HubUnreachable:
    reason = getattr(exc, "reason", None) or exc
    return HubUnreachable(
        f"Cannot reach {endpoint()} for {what}: {reason}.",
        "Check your network (or HF_ENDPOINT); set HF_HUB_OFFLINE=1 to use only downloaded files.",
    )


def get_json(path: str, what: str) -> tuple[Any, dict[str, str]]:
    """GET {endpoint}{path} and decode JSON; returns (data, response headers)."""
    url = endpoint() + path
    try:
        with open_url(url) as resp:
            body = resp.read()
            headers = {k: v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        raise status_error(exc, what) from None
    except NETWORK_ERRORS as exc:
        raise network_error(exc, what) from None
    except ValueError as exc:  # e.g. "unknown url type"
        raise HubError(f"HF_ENDPOINT {endpoint()!r} is not a usable URL: {exc}.", "Set it to e.g. https://huggingface.co or unset it.") from None
    try:
        return json.loads(body), headers
    except ValueError:
        raise HubError(f"{url} did not answer JSON.", "Check HF_ENDPOINT points at a Hugging Face Hub.") from None
