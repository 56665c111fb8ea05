"""Will a quant fit this machine? File size + MLA KV cache + compute buffers against RAM + VRAM."""

from __future__ import annotations

import os
from typing import Iterable

from glmchat.hub.catalog import RECOMMENDED, Quant

# GLM-4.7-Flash (deepseek2 / MLA): per layer and token the cache keeps the compressed latent
# (kv_lora_rank 512) plus the rope key part (64), in f16.
N_LAYERS = 47
KV_LORA_RANK = 512
ROPE_DIM = 64
KV_BYTES_PER_TOKEN = N_LAYERS * (KV_LORA_RANK + ROPE_DIM) * 2
COMPUTE_OVERHEAD = 1024**3  # compute buffers, scratch, the runtime itself
KV_TYPE_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def kv_cache_bytes(n_ctx: int, kv_cache_type: str = "f16") -> int:
    per_elem = KV_TYPE_BYTES.get(kv_cache_type, 2.0)
    return int(N_LAYERS * (KV_LORA_RANK + ROPE_DIM) * per_elem * n_ctx)


def required_bytes(quant: Quant, n_ctx: int, kv_cache_type: str = "f16") -> int:
    return quant.size + kv_cache_bytes(n_ctx, kv_cache_type) + COMPUTE_OVERHEAD


def fits(quant: Quant, n_ctx: int, ram_bytes: int, vram_bytes: int = 0, kv_cache_type: str = "f16") -> bool:
    """True when the file, its KV cache at n_ctx and the compute buffers fit in RAM + VRAM."""
    return required_bytes(quant, n_ctx, kv_cache_type) <= ram_bytes + vram_bytes


def recommend(
    quants: Iterable[Quant], n_ctx: int, ram_bytes: int | None = None, vram_bytes: int = 0, kv_cache_type: str = "f16"
) -> Quant:
    """UD-Q4_K_XL when it fits; else the largest smaller quant that fits; else the smallest there is."""
    qs = sorted(quants, key=lambda q: q.size)
    if not qs:
        raise ValueError("no quants to choose from")
    ram = system_ram_bytes() if ram_bytes is None else ram_bytes
    preferred = next((q for q in qs if q.name == RECOMMENDED), None)
    if preferred is not None and fits(preferred, n_ctx, ram, vram_bytes, kv_cache_type):
        return preferred
    ceiling = preferred.size if preferred is not None else float("inf")
    fitting = [q for q in qs if q.size < ceiling and fits(q, n_ctx, ram, vram_bytes, kv_cache_type)]
    return fitting[-1] if fitting else qs[0]


def system_ram_bytes() -> int:
    """Physical memory in bytes (os.sysconf, else /proc/meminfo); 0 when unknown."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page > 0:
            return int(pages * page)
    except (AttributeError, ValueError, OSError):
        pass
    return _meminfo("MemTotal")


def available_ram_bytes() -> int:
    """Memory free for new work now (MemAvailable); falls back to the total."""
    return _meminfo("MemAvailable") or system_ram_bytes()


def _meminfo(key: str) -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
