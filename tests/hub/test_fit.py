"""What fits in memory, and which quant is recommended, on the real quants' sizes."""

from __future__ import annotations

import pytest

from glmchat.hub import (
    Catalog,
    fits,
    kv_cache_bytes,
    recommend,
)


def test_fit_and_recommendation_on_real_sizes():
    cat = Catalog.builtin()
    assert kv_cache_bytes(16384) == 47 * (512 + 64) * 2 * 16384
    q4 = cat.get("UD-Q4_K_XL")
    assert cat.get("Q8_0").bits_per_weight == pytest.approx(8.5, abs=0.05)
    gib = 1024**3
    assert fits(q4, 16384, 32 * gib, 0) and not fits(q4, 16384, 16 * gib, 0)
    assert fits(q4, 16384, 8 * gib, 12 * gib)  # VRAM counts
    assert not fits(q4, 202752, 20 * gib, 0) and fits(q4, 4096, 20 * gib, 0)  # the KV cache grows with n_ctx
    assert recommend(cat.quants, 16384, 32 * gib).name == "UD-Q4_K_XL"
    assert recommend(cat.quants, 16384, 256 * gib).name == "UD-Q4_K_XL"  # not the biggest that fits
    small = recommend(cat.quants, 16384, 16 * gib)
    assert small.size < q4.size and fits(small, 16384, 16 * gib)
    bigger = [q for q in cat.quants if small.size < q.size < q4.size]
    assert bigger and not any(fits(q, 16384, 16 * gib) for q in bigger)  # the largest that fits
    assert recommend(cat.quants, 16384, 2 * gib).name == cat.quants[0].name
