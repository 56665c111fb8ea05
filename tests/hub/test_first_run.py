"""First run: no model yet, so the recommended quant is offered and downloaded (and re-offered when bad)."""

from __future__ import annotations

import sys

import pytest

from glmchat.hub import (
    RECOMMENDED,
    DownloadCancelled,
    DownloadProgress,
    ensure_model,
)
from glmchat.hub import cache as hcache
from tests.fake_hub import PREFIX, Q4
from tests.fake_hub import resolve_requests as _resolve_requests


def test_first_run_downloads_recommended_quant_with_consent(hub, capsys):
    path = ensure_model(None, interactive=False, consent=True)
    assert path.name == f"{PREFIX}{RECOMMENDED}.gguf"  # the fake's files are tiny: the recommendation fits
    assert f"Downloading GLM-4.7-Flash {RECOMMENDED}" in capsys.readouterr().err
    n = len(_resolve_requests(hub))
    assert ensure_model(None, interactive=False) == path  # on disk now: no consent needed, nothing fetched
    assert len(_resolve_requests(hub)) == n


def test_first_run_asks_on_a_terminal_and_respects_no(hub, monkeypatch, capsys):
    class Tty:
        def __init__(self, answer):
            self.answer = answer

        def isatty(self):
            return True

        def readline(self):
            return self.answer

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    with pytest.raises(DownloadCancelled):
        ensure_model(None, interactive=True)
    assert "Download UD-Q4_K_XL" in capsys.readouterr().err and _resolve_requests(hub) == []
    monkeypatch.setattr(sys, "stdin", Tty("\n"))  # default yes
    assert ensure_model("Q4_K_M", interactive=True).read_bytes() == hub.files[Q4].data


def test_hash_mismatch_in_first_run_offers_a_fresh_download(hub, monkeypatch, capsys):
    hub.corrupt.add(Q4)
    answers = iter(["\n", "y\n"])

    class Tty:
        def isatty(self):
            return True

        def readline(self):
            answer = next(answers)
            if answer == "y\n":
                hub.corrupt.clear()  # the user agrees to a re-download, which now gets good bytes
            return answer

    monkeypatch.setattr(sys, "stdin", Tty())
    path = ensure_model("Q4_K_M", interactive=True, progress=DownloadProgress())
    assert path.read_bytes() == hub.files[Q4].data
    err = capsys.readouterr().err
    assert "failed verification" in err and "Download it again? [Y/n]" in err
    assert hcache.corrupt_path(hub.files[Q4].sha256).exists()
