"""Regression tests for bugs found while using glmchat as a newcomer (QA pass)."""

from __future__ import annotations

import pytest

from glmchat.errors import UsageError
from glmchat.hub import OfflineError, download, ensure_model


def test_offline_unknown_quant_is_reported_as_unknown(monkeypatch):
    """HF_HUB_OFFLINE=1 and a typo: say the quant is unknown (exit 2), not that it is missing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        download("Q9_Z")
    assert "Unknown quant 'Q9_Z'" in err.value.message and "Known quants" in err.value.hint
    with pytest.raises(UsageError) as err:
        ensure_model("Q9_Z", interactive=False)
    assert "Unknown quant 'Q9_Z'" in err.value.message


def test_offline_known_quant_still_says_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        download("q4_k_m")  # known, any case: the offline message, with the catalog's spelling
    assert "Q4_K_M" in err.value.message and "HF_HUB_OFFLINE" in err.value.message
    with pytest.raises(OfflineError) as err:
        ensure_model("q4_k_m", interactive=False)
    assert "Q4_K_M" in err.value.message
