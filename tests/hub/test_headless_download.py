"""A headless command never starts a multi-GiB download by itself (issue 15).

`glmchat ask` and `glmchat bench` without a model on disk say which quant they would fetch, its
size and the command that fetches it, and exit 1, with no file requested from the (fake) Hub;
`ask --download` consents and fetches it; a caller's own download progress (the TUI's panel, which
offers the download first) still fetches.
"""

from __future__ import annotations

import io
import sys

import pytest

from glmchat import cli
from glmchat.engine.factory import resolve_model_path
from glmchat.engine.local import LocalEngine
from glmchat.engine.scripted import ScriptedEngine
from glmchat.hub import RECOMMENDED, DownloadProgress, NotDownloaded, ensure_model
from glmchat.settings import load_settings
from glmchat.units import size_text
from tests.fake_hub import Q4
from tests.fake_hub import resolve_requests as _resolve_requests


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def no_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a pipe with nothing in it


def test_ask_without_a_model_names_quant_size_and_command_and_fetches_nothing(hub, no_stdin, capsys):
    code, out, err = run_cli(["ask", "hello"], capsys)
    assert code == 1 and out == "" and "Traceback" not in err
    assert f"The quant to fetch is {RECOMMENDED} ({size_text(hub.file(RECOMMENDED).size)})" in err
    assert f"glmchat download {RECOMMENDED}" in err and "--download" in err and "--model PATH" in err
    assert _resolve_requests(hub) == []  # the catalog was listed; no model file was requested


def test_ask_with_a_quant_names_that_quant(hub, no_stdin, capsys):
    code, _, err = run_cli(["ask", "-q", "q4_k_m", "hello"], capsys)
    assert code == 1 and "GLM-4.7-Flash Q4_K_M is not downloaded yet" in err
    assert f"({size_text(hub.files[Q4].size)})" in err and "glmchat download Q4_K_M" in err
    assert _resolve_requests(hub) == []


def test_bench_without_a_model_fetches_nothing(hub, capsys):
    code, _, err = run_cli(["bench"], capsys)
    assert code == 1 and f"glmchat download {RECOMMENDED}" in err and "--download" not in err
    assert _resolve_requests(hub) == []


def test_offline_says_the_size_is_not_known_exactly(hub, no_stdin, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_cli(["ask", "hello"], capsys)
    assert code == 1 and "HF_HUB_OFFLINE" in err and "exact size is unknown" in err
    assert f"glmchat download {RECOMMENDED}" in err
    assert hub.requests == []


def test_ask_download_consents_and_fetches_the_quant(hub, no_stdin, monkeypatch, capsys):
    loaded: list = []

    def load(cls, path, **kw):
        loaded.append(path)
        return ScriptedEngine(["Hmm.</think>Fetched and answered."])

    monkeypatch.setattr(LocalEngine, "load", classmethod(load))  # the fake's GGUF bytes are not a model
    code, out, err = run_cli(["ask", "--download", "-q", "Q4_K_M", "--no-history", "hello"], capsys)
    assert code == 0, err
    assert out == "Fetched and answered.\n" and "Downloading GLM-4.7-Flash Q4_K_M" in err
    assert loaded[0].read_bytes() == hub.files[Q4].data and _resolve_requests(hub, Q4)


def test_not_downloaded_is_raised_before_any_file_request(hub):
    with pytest.raises(NotDownloaded) as exc:
        resolve_model_path(load_settings(), quant="Q4_K_M")
    assert exc.value.quant == "Q4_K_M" and exc.value.size == hub.files[Q4].size and exc.value.exit_code == 1
    assert _resolve_requests(hub) == []


def test_a_callers_own_progress_offers_and_fetches_as_the_tui_does(hub):
    offered: list[int] = []

    class Offer(DownloadProgress):  # the TUI's panel: on_start shows the offer and waits for Download
        def on_start(self, files, total_bytes):
            offered.append(total_bytes)

    path = resolve_model_path(load_settings(), quant="Q4_K_M", interactive=False, download_progress=Offer())
    assert offered == [hub.files[Q4].size] and path.read_bytes() == hub.files[Q4].data
    assert ensure_model("Q4_K_M", interactive=False) == path  # on disk now: no consent needed
