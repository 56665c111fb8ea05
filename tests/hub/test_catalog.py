"""The quant catalog: file names read into quants, the Hub's APIs, its offline cache, unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from glmchat.errors import UsageError
from glmchat.hub import (
    RECOMMENDED,
    Catalog,
    download,
    ensure_model,
)
from glmchat.hub import cache as hcache
from tests.fake_hub import BF16_1, BF16_2, COMMIT, Q4, FakeHub
from tests.fake_hub import use_fake_hub as _use


def test_one_quant_parser_reads_file_names():
    from glmchat.hub import catalog, quant_names
    from glmchat.hub.quant_names import parse_gguf_path, quant_from_filename

    assert catalog.parse_gguf_path is hcache.parse_gguf_path is quant_names.parse_gguf_path
    assert quant_from_filename("GLM-4.7-Flash-UD-Q4_K_XL.gguf") == "UD-Q4_K_XL"
    assert quant_from_filename(Path("/m/BF16/GLM-4.7-Flash-BF16-00001-of-00002.gguf")) == "BF16"
    assert quant_from_filename("SmolLM2-135M-Instruct-Q4_1.gguf") == "Q4_1"  # any model's llama.cpp label
    assert quant_from_filename("GLM-4.7-Flash-MXFP4_MOE.gguf") == "MXFP4_MOE"  # this repo's model: what follows the prefix
    assert quant_from_filename("model.gguf") is None and quant_from_filename("GLM-4.7-Flash-Q4_K_M.bin") is None
    assert parse_gguf_path("BF16/GLM-4.7-Flash-BF16-00002-of-00002.gguf") == ("BF16", 2, 2)
    assert parse_gguf_path("GLM-4.7-Flash-MXFP4_MOE.gguf") == ("MXFP4_MOE", 1, 1)
    assert parse_gguf_path("mmproj-GLM-4.7-Flash-F16.gguf") is None and parse_gguf_path("README.md") is None


def test_catalog_groups_real_file_names_and_caches_for_offline(hub):
    cat = Catalog.load()
    assert cat.source == "hub" and cat.commit == COMMIT
    assert RECOMMENDED in cat.names and "BF16" in cat.names
    sizes = [q.size for q in cat.quants]
    assert sizes == sorted(sizes)
    bf16 = cat.get("BF16")
    assert [f.path for f in bf16.files] == [BF16_1, BF16_2]
    assert bf16.size == hub.files[BF16_1].size + hub.files[BF16_2].size
    q4 = cat.get("q4_k_m")  # case-insensitive
    assert q4.files[0].sha256 == hub.files[Q4].sha256 and q4.size == hub.files[Q4].size
    assert q4.bits_per_weight == round(q4.size * 8 / 30e9, 2)

    offline = Catalog.load(offline=True)
    assert offline.source == "cache" and offline.commit == COMMIT
    assert [(q.name, q.size, [f.sha256 for f in q.files]) for q in offline.quants] == [
        (q.name, q.size, [f.sha256 for f in q.files]) for q in cat.quants
    ]


def test_catalog_falls_back_to_tree_api_with_pagination(hub):
    hub.info_without_lfs = True
    hub.tree_page_size = 4
    cat = Catalog.load()
    assert any("/tree/" in p and "cursor=" in p for _, p, _ in hub.requests)  # followed the Link header
    assert cat.get("BF16").files[1].sha256 == hub.files[BF16_2].sha256
    assert len(cat.quants) == 16


def test_catalog_unreachable_uses_cache_then_builtin(monkeypatch):
    with FakeHub() as h:
        _use(h, monkeypatch)
        url = h.url
    monkeypatch.setenv("HF_ENDPOINT", url)  # server gone: connection refused
    builtin = Catalog.load()
    assert builtin.source == "builtin" and RECOMMENDED in builtin.names
    assert builtin.get("UD-Q4_K_XL").size == pytest.approx(16.31 * 1024**3, rel=0.001)
    assert builtin.get("BF16").split
    with FakeHub() as h:
        _use(h, monkeypatch)
        Catalog.load()
        url = h.url
    assert Catalog.load().source == "cache"


def test_unknown_quant_lists_names_closest_first(hub):
    with pytest.raises(UsageError) as err:
        Catalog.load().get("Q4_K_N")
    assert err.value.hint.startswith("Known quants (closest first): Q4_K_M, ")
    assert "UD-Q4_K_XL" in err.value.hint and "Q4_K_N" in err.value.message


def test_offline_unknown_quant_is_reported_as_unknown(monkeypatch):
    """HF_HUB_OFFLINE=1 and a typo: say the quant is unknown (exit 2), not that it is missing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        download("Q9_Z")
    assert "Unknown quant 'Q9_Z'" in err.value.message and "Known quants" in err.value.hint
    with pytest.raises(UsageError) as err:
        ensure_model("Q9_Z", interactive=False)
    assert "Unknown quant 'Q9_Z'" in err.value.message
