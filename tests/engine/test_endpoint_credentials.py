"""An endpoint URL with credentials in it (`https://user:secret@host/v1`) never shows them: not in
errors (a refused connection, an HTTP error, a bad URL), not in the engine's info (status bar,
`bench`, snapshots), not in the progress line, not in `glmchat config`. The credentials are still
used: they go to the server as HTTP basic auth."""

from __future__ import annotations

import base64
import json
import socket

import pytest

from glmchat.engine.base import ChatRequest
from glmchat.engine.factory import open_engine
from glmchat.engine.remote import RemoteEngine, list_models
from glmchat.engine.urls import shown_url, url_credentials
from glmchat.errors import EngineError
from glmchat.settings import load_settings
from tests.scripted_sse import GLM, Error, ScriptedServer, openai_error

SECRET = "s3cr3t-pa55"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_secret(url: str) -> str:
    return url.replace("http://", f"http://alice:{SECRET}@", 1)


def shown(exc: EngineError) -> str:
    return f"{exc.message} {exc.hint}"


def ask() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    "url,expected",
    [
        (f"https://alice:{SECRET}@gpu.example/v1", "https://gpu.example/v1"),
        (f"https://{SECRET}@gpu.example:8443/v1", "https://gpu.example:8443/v1"),
        (f"alice:{SECRET}@gpu.example:8000/v1", "gpu.example:8000/v1"),  # no scheme
        (f"http://alice:p@{SECRET}@[::1]:8000/v1", "http://[::1]:8000/v1"),  # "@" in the password
        ("http://gpu.example/v1/a@b", "http://gpu.example/v1/a@b"),  # an "@" in the path is no user info
        (f"ftp://alice:{SECRET}@[bad", "ftp://[bad"),  # not a URL urllib can split
    ],
)
def test_shown_url_drops_the_user_info(url, expected):
    assert shown_url(url) == expected and SECRET not in shown_url(url)


def test_url_credentials_are_decoded():
    assert url_credentials("http://al%40ice:p%3Ass@host/v1") == ("al@ice", "p:ss")
    assert url_credentials("http://host/v1") is None


def test_a_refused_connection_names_the_endpoint_without_its_credentials():
    url = with_secret(f"http://127.0.0.1:{closed_port()}/v1")
    for attempt in (lambda: RemoteEngine(url), lambda: list_models(url)):
        with pytest.raises(EngineError) as info:
            attempt()
        assert "connection refused" in info.value.message and SECRET not in shown(info.value)
        assert shown_url(url) in info.value.message
    engine = RemoteEngine(url, model=GLM, timeout=5)  # a model named: the stream reports the fault
    with pytest.raises(EngineError) as info:
        list(engine.stream(ask()))
    assert "connection refused" in info.value.message and SECRET not in shown(info.value)
    assert SECRET not in repr(engine._ep)


def test_an_http_error_names_the_endpoint_without_its_credentials():
    with ScriptedServer() as srv:
        url = with_secret(srv.base_url)
        engine = RemoteEngine(url)
        assert SECRET not in json.dumps(engine.info.__dict__, default=str) and engine.info.path == srv.base_url
        srv.reply(Error(500, openai_error("out of memory", "InternalServerError", 500)))
        with pytest.raises(EngineError) as info:
            list(engine.stream(ask()))
        assert "HTTP 500" in info.value.message and srv.base_url in info.value.message
        assert SECRET not in shown(info.value)
        # the model fault path asks /models again, with the same credentials
        srv.reply(Error(404, openai_error("The model `x` does not exist.", "NotFoundError", 404)))
        with pytest.raises(EngineError) as info:
            list(RemoteEngine(url, model="x").stream(ask()))
        assert GLM in info.value.hint and SECRET not in shown(info.value)
        auth = {h.get("Authorization") for h in srv.headers}
    assert auth == {"Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()}


def test_a_bad_endpoint_url_is_quoted_without_its_credentials():
    for url in (f"ftp://alice:{SECRET}@gpu.example/v1", f"http://alice:{SECRET}@gpu.example:99999999/v1"):
        with pytest.raises(EngineError) as info:
            RemoteEngine(url)
        assert "gpu.example" in info.value.message and SECRET not in shown(info.value)


def test_progress_and_config_show_the_endpoint_without_its_credentials():
    with ScriptedServer() as srv:
        settings = load_settings()
        settings.remote.base_url = with_secret(srv.base_url)
        lines: list[str] = []
        open_engine(settings, progress=lambda f, text: lines.append(text))
    assert lines[0] == f"Connecting to {srv.base_url}…" and not any(SECRET in line for line in lines)
    shown_settings = settings.as_dict()
    assert shown_settings["remote"]["base_url"] == srv.base_url
    assert settings.remote.base_url == with_secret(srv.base_url)  # the setting itself is kept as given
