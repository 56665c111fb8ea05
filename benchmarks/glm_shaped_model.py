"""Write a GLM-shaped GGUF of a chosen size: GLM-4.7-Flash's widths, fewer layers and experts, quantized.

    python benchmarks/glm_shaped_model.py OUT.gguf [--layers 24] [--experts 8] [--type Q4_K_M]
                                          [--nextn] [--tiny] [--threads N]

The weights are random (tests/fixtures/tiny_glm.py's builder, whose `shape=` gives the real widths:
n_embd 2048, 20 heads, q/kv LoRA ranks 768/512, rope/nope 64/192, v_head 256, dense FFN 10240,
expert FFN 1536, 4 experts used per token, one shared; the 154,880-token vocabulary and the chat
template), so what it says means nothing; what it costs per token is the real model's per layer (the
same active experts, the same attention, the same vocabulary), with `--layers` of them (GLM-4.7-Flash
has 47) and `--experts` routed experts to choose from (64). `--nextn` adds the NextN (MTP) block.
The builder writes f32 block weights; llama.cpp's quantizer (benchmarks/requantize.py) then makes
`--type` of them and the f32 file is removed. `--tiny` keeps the tiny test shape (CPU dry runs).

Defaults: 24 layers, 8 experts, Q4_K_M: about 3.2B weights, ~2.2 GB (f32 on the way: ~13 GB of disk
and memory; ~1-2 minutes on 16 cores: numpy's random numbers run on one). Measured here: 2 layers,
4 experts and the NextN block (0.83B weights, 578 MB) took 27 s to write and 50 s to quantize on 2 busy
cores. Half GLM-4.7-Flash's depth makes a token's fixed costs (sampling over 154,880 logits) a larger
share than in the real model, so glmchat/llama-bench ratios on it are on the cautious side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

REAL_WIDTHS = {  # GLM-4.7-Flash (config.json of zai-org/GLM-4.7-Flash)
    "n_embd": 2048, "n_head": 20, "q_lora_rank": 768, "kv_lora_rank": 512, "qk_nope": 192, "qk_rope": 64,
    "v_head": 256, "n_ff": 10240, "n_ff_exp": 1536, "n_expert_used": 4,
}


def build(out: Path, *, layers: int, experts: int, quant: str, nextn: bool, tiny: bool, threads: int) -> dict:
    """Write `out` (reused when it exists with a matching sidecar); returns what was done and how long it took."""
    from requantize import requantize

    from tests.fixtures.tiny_glm import build_tiny_glm

    shape = None if tiny else {**REAL_WIDTHS, "n_expert": experts}
    raw = out.with_name(out.stem + ".f32.gguf")
    stamp = out.with_name(out.name + ".made-from")
    key = f"{layers} layers, {experts if not tiny else 'tiny'} experts, {quant}, nextn={nextn}"
    if out.is_file() and stamp.is_file() and stamp.read_text() == key:
        return {"path": str(out), "reused": True, "bytes": out.stat().st_size, "shape": key}
    t0 = time.perf_counter()
    build_tiny_glm(raw, n_layers=layers, nextn=nextn, shape=shape)
    t_build = time.perf_counter() - t0
    t_quant = requantize(raw, out, quant, threads=threads)
    raw.unlink()
    raw.with_name(raw.name + ".params.json").unlink(missing_ok=True)
    stamp.write_text(key)
    return {"path": str(out), "reused": False, "bytes": out.stat().st_size, "shape": key,
            "build_s": round(t_build, 1), "quantize_s": round(t_quant, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=24, help="blocks (the first dense, the rest MoE; GLM-4.7-Flash: 47)")
    ap.add_argument("--experts", type=int, default=8, help="routed experts per MoE block (GLM-4.7-Flash: 64)")
    ap.add_argument("--type", default="Q4_K_M", help="llama.cpp quant type (benchmarks/requantize.py's TYPES)")
    ap.add_argument("--nextn", action="store_true", help="add the NextN (MTP) block")
    ap.add_argument("--tiny", action="store_true", help="the tiny test shape instead of the real widths")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    done = build(args.out, layers=args.layers, experts=args.experts, quant=args.type, nextn=args.nextn, tiny=args.tiny, threads=args.threads)
    print(" ".join(f"{k}={v}" for k, v in done.items()))


if __name__ == "__main__":
    main()
