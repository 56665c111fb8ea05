"""Offload planner: synthetic memory figures for GLM-4.7-Flash quants; every plan must fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from glmchat.engine.gguf_meta import read_gguf
from glmchat.engine.planner import GIB, glm47_flash_layout, largest_context, layout_from_gguf, plan_offload, plan_table

QUANTS = {"UD-Q4_K_XL": 16.31 * GIB, "Q8_0": 29.65 * GIB}


@pytest.mark.parametrize("quant", list(QUANTS))
@pytest.mark.parametrize("ram_gb", [32, 64])
@pytest.mark.parametrize("vram_gb", [8, 12, 16, 24, 80])
def test_every_plan_fits(quant, ram_gb, vram_gb):
    layout = glm47_flash_layout(int(QUANTS[quant]))
    plan = plan_offload(layout, n_ctx=16384, vram_free=vram_gb * GIB, ram_total=ram_gb * GIB)
    assert plan.fits, plan
    assert plan.gpu_bytes <= vram_gb * GIB * 0.95
    assert plan.ram_bytes <= ram_gb * GIB * 0.9
    # nothing lost: GPU + RAM parts hold every weight, the KV cache and one compute buffer
    assert plan.gpu_bytes + plan.ram_bytes >= layout.total_bytes + plan.kv_bytes
    # attention and shared weights of every layer are on the GPU; only routed experts move to RAM
    assert plan.n_gpu_layers == layout.n_layers + 1
    if plan.cpu_moe_layers:
        assert plan.overrides and "_exps" in plan.overrides[0]


def test_more_vram_keeps_fewer_experts_in_ram():
    layout = glm47_flash_layout(int(QUANTS["Q8_0"]))
    kept = [plan_offload(layout, n_ctx=16384, vram_free=v * GIB, ram_total=64 * GIB).cpu_moe_layers for v in (8, 12, 16, 24, 80)]
    assert kept == sorted(kept, reverse=True) and kept[0] > 0 and kept[-1] == 0


def test_the_smallest_expert_split_is_chosen():
    layout = glm47_flash_layout(int(QUANTS["UD-Q4_K_XL"]))
    plan = plan_offload(layout, n_ctx=16384, vram_free=12 * GIB, ram_total=32 * GIB)
    k = plan.cpu_moe_layers
    fewer = plan_offload(layout, n_ctx=16384, vram_free=12 * GIB, ram_total=32 * GIB, cpu_moe=k - 1)
    assert not fewer.fits and fewer.gpu_bytes > 12 * GIB * 0.95


def test_no_gpu_is_cpu_only_and_tiny_gpu_reduces_layers():
    layout = glm47_flash_layout(int(QUANTS["UD-Q4_K_XL"]))
    cpu = plan_offload(layout, n_ctx=16384, vram_free=0, ram_total=32 * GIB)
    assert cpu.n_gpu_layers == 0 and cpu.summary() == "CPU only" and cpu.fits
    small = plan_offload(layout, n_ctx=16384, vram_free=2 * GIB, ram_total=32 * GIB)
    assert 0 < small.n_gpu_layers <= layout.n_layers and small.fits


def test_manual_overrides():
    layout = glm47_flash_layout(int(QUANTS["UD-Q4_K_XL"]))
    p = plan_offload(layout, n_ctx=4096, vram_free=80 * GIB, ram_total=64 * GIB, gpu_layers=10)
    assert p.n_gpu_layers == 10 and "manual" in p.reason
    p = plan_offload(layout, n_ctx=4096, vram_free=80 * GIB, ram_total=64 * GIB, cpu_moe="all")
    assert p.cpu_moe_layers == 46  # the leading dense layer has no experts
    p = plan_offload(layout, n_ctx=4096, vram_free=80 * GIB, ram_total=64 * GIB, gpu_layers=0)
    assert p.n_gpu_layers == 0


def test_kv_cache_type_and_context_change_the_budget():
    layout = glm47_flash_layout(int(QUANTS["UD-Q4_K_XL"]))
    f16 = plan_offload(layout, n_ctx=131072, vram_free=16 * GIB, ram_total=64 * GIB)
    q8 = plan_offload(layout, n_ctx=131072, vram_free=16 * GIB, ram_total=64 * GIB, kv_type="q8_0")
    assert q8.kv_bytes < f16.kv_bytes and q8.cpu_moe_layers <= f16.cpu_moe_layers
    assert largest_context(layout, vram_free=0, ram_total=24 * GIB) < largest_context(layout, vram_free=0, ram_total=64 * GIB)


def test_layout_from_a_real_gguf(smollm2_path):
    info = read_gguf(smollm2_path)
    layout = layout_from_gguf(info)
    assert layout.n_layers == 30 and not layout.is_moe
    assert layout.total_bytes == sum(t.nbytes for t in info.tensors)
    assert info.data_end == info.file_size


def test_layout_from_the_tiny_glm_model(tiny_glm_path):
    layout = layout_from_gguf(read_gguf(tiny_glm_path))
    assert layout.is_moe and layout.expert_bytes[0] == 0 and all(layout.expert_bytes[1:])
    assert layout.n_vocab == 154880


def test_readme_carries_the_plan_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert plan_table() in readme, "regenerate with: python -m glmchat.engine.planner"


def test_in_graph_sampling_and_an_mtp_draft_context_take_vram_the_plan_counts():
    from glmchat.engine.planner import compute_buffer_bytes, extra_compute_bytes

    layout = glm47_flash_layout(int(QUANTS["UD-Q4_K_XL"]))
    assert extra_compute_bytes(layout, n_ctx=16384, backend_sampling="off", speculative="auto") == 0  # no NextN layer
    graph = extra_compute_bytes(layout, n_ctx=16384, backend_sampling="auto", speculative="off")
    assert graph == 512 * 154_880 * 4  # the padded copy of a batch's logits: ~302 MiB
    layout.nextn_layers = 1
    assert extra_compute_bytes(layout, n_ctx=16384, backend_sampling="off", speculative="ngram") == 0
    with_mtp = extra_compute_bytes(layout, n_ctx=16384, backend_sampling="auto", speculative="auto")
    assert with_mtp == graph + compute_buffer_bytes(layout, 16384)
    # VRAM that just holds the whole model without them: with them, some experts must stay in RAM
    whole = plan_offload(layout, n_ctx=16384, vram_free=80 * GIB, ram_total=64 * GIB)
    snug = int(whole.gpu_bytes / 0.95) + 64 * 1024**2
    assert plan_offload(layout, n_ctx=16384, vram_free=snug, ram_total=64 * GIB).cpu_moe_layers == 0
    tight = plan_offload(layout, n_ctx=16384, vram_free=snug, ram_total=64 * GIB, extra_compute=with_mtp)
    assert tight.cpu_moe_layers > 0 and tight.fits
    assert tight.gpu_bytes <= snug * 0.95


def test_layout_knows_a_nextn_layer(tiny_glm_path):
    assert layout_from_gguf(read_gguf(tiny_glm_path)).nextn_layers == 0
