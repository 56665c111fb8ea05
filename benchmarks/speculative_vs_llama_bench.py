"""glmchat in each speculative mode against llama-bench at the same depth, free text and a copy task.

    python benchmarks/speculative_vs_llama_bench.py [--model PATH | --tiny-glm] [--threads N]
        [--n-gen 128] [--rounds 5] [--llama-bench PATH | --no-llama-bench] [--json]

One LocalEngine (loaded with `speculative = "auto"`, so a file with a NextN layer gets its MTP
context), the two tasks of `glmchat.speculative_bench` (free: a short story; copy: "Repeat this code
exactly" + 66 lines of Python), greedy, exactly --n-gen tokens (EOS ignored), the cache emptied
before every run. Modes: off, ngram, and mtp when the engine loaded the file's NextN layer.

Each round runs, for each task, every mode once (the order rotating round by round) and then
`llama-bench -p 0 -n N -d D -r 1` with D = that task's prompt length (the positions glmchat generates
at), the same threads and flash-attention setting; so a burst of load from other work hits them
alike. Rate = completion_tokens / generation_time for glmchat, llama-bench's samples_ts (decode only,
no sampling, one token per decode). Prints per task and mode the median tok/s, the acceptance, and
the medians of the per-round ratios mode/llama-bench and mode/off.

llama-bench: --llama-bench, else $LLAMA_BENCH, else /tmp/llama-bench-build/bin/llama-bench when it
exists (benchmarks/README.md says how to build it from the vendored llama.cpp).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from engine_speed import measure_llama_bench  # noqa: E402 - benchmarks/ is on sys.path above

from glmchat.engine.base import ChatRequest, SamplingParams  # noqa: E402
from glmchat.speculative_bench import TASKS, generate_once, mtp_ready  # noqa: E402

DEFAULT_LLAMA_BENCH = Path("/tmp/llama-bench-build/bin/llama-bench")


def find_llama_bench(arg: Path | None, disabled: bool) -> Path | None:
    if disabled:
        return None
    for candidate in (arg, os.environ.get("LLAMA_BENCH"), DEFAULT_LLAMA_BENCH):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    if arg:
        raise SystemExit(f"llama-bench not found or not executable: {arg}")
    return None


def pick_model(args: argparse.Namespace) -> Path:
    if args.tiny_glm:
        from tests.fixtures.tiny_glm import build_tiny_glm

        return build_tiny_glm(Path(tempfile.gettempdir()) / "glmchat-bench" / "tiny-glm-nextn.gguf", nextn=True)
    if args.model:
        return Path(args.model)
    from tests.conftest import find_smollm2

    found = find_smollm2()
    if found is None:
        raise SystemExit("no --model given and the SmolLM2 test model is not installed")
    return Path(found)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from glmchat.engine.devices import physical_cores
    from glmchat.engine.local import LocalEngine

    model = pick_model(args)
    threads = args.threads or physical_cores()
    binary = find_llama_bench(args.llama_bench, args.no_llama_bench)
    engine = LocalEngine.load(model, n_ctx=args.n_ctx, n_threads=threads, speculative="auto", n_gpu_layers=args.gpu_layers)
    details = engine.info.details
    flash_attn = bool(details.get("flash_attn"))
    modes = ["off", "ngram"] + (["mtp"] if mtp_ready(engine) else [])
    sampling = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=args.n_gen)
    depth = {t: engine.count_tokens(ChatRequest(messages=[{"role": "user", "content": p}])) for t, p in TASKS.items()}
    runs: dict[str, dict[str, list[dict]]] = {t: {m: [] for m in modes} for t in TASKS}
    bench: dict[str, list[float]] = {t: [] for t in TASKS}
    load_before = os.getloadavg()
    try:
        for prompt in TASKS.values():  # warm-up, not recorded
            for mode in modes:
                generate_once(engine, mode, prompt, SamplingParams(**{**sampling.__dict__, "max_tokens": min(16, args.n_gen)}))
        for r in range(args.rounds):
            order = modes[r % len(modes):] + modes[: r % len(modes)]
            for task, prompt in TASKS.items():
                for mode in order:
                    u = generate_once(engine, mode, prompt, sampling)
                    runs[task][mode].append({"rate": u.generation_tokens_per_second, "tokens": u.completion_tokens,
                                             "drafted": u.draft_tokens, "accepted": u.accepted_draft_tokens})
                if binary is not None:
                    one = measure_llama_bench(binary, model, args.n_gen, threads, 1, flash_attn, depth=depth[task])
                    bench[task].append(one.rates[-1] if one.rates else 0.0)
    finally:
        engine.close()
    return {
        "model": str(model), "backend": engine.info.backend, "threads": threads, "flash_attn": flash_attn,
        "n_gen": args.n_gen, "rounds": args.rounds, "modes": modes, "llama_bench": str(binary) if binary else None,
        "speculative": details.get("speculative"), "sampling": details.get("sampling"),
        "load_before": load_before, "load_after": os.getloadavg(),
        "tasks": {t: summarize(runs[t], bench[t], depth[t]) for t in TASKS},
    }


def summarize(runs: dict[str, list[dict]], bench: list[float], depth: int) -> dict[str, Any]:
    """Per mode: median tok/s, acceptance, the medians of per-round ratios against llama-bench and off."""
    out: dict[str, Any] = {"depth": depth, "llama_bench_tps": bench, "llama_bench_median": statistics.median(bench) if bench else None, "modes": {}}
    off = [x["rate"] for x in runs["off"]]
    for mode, xs in runs.items():
        rates = [x["rate"] for x in xs]
        drafted = sum(x["drafted"] for x in xs)
        row: dict[str, Any] = {"tps": rates, "median_tps": statistics.median(rates),
                               "draft_tokens": drafted, "accepted_draft_tokens": sum(x["accepted"] for x in xs),
                               "acceptance": sum(x["accepted"] for x in xs) / drafted if drafted else 0.0}
        per_off = [a / b for a, b in zip(rates, off, strict=True) if b > 0]
        row["vs_off_median"] = statistics.median(per_off) if per_off else None
        per_bench = [a / b for a, b in zip(rates, bench, strict=False) if b > 0]
        row["vs_llama_bench_median"] = statistics.median(per_bench) if per_bench else None
        row["vs_llama_bench"] = per_bench
        out["modes"][mode] = row
    return out


def report(result: dict[str, Any]) -> list[str]:
    lines = [(f"{Path(result['model']).name} · {result['backend']} · {result['threads']} threads · flash attention "
              f"{'on' if result['flash_attn'] else 'off'} · greedy · {result['n_gen']} tokens × {result['rounds']} interleaved rounds"),
             "load average before: {:.2f} {:.2f} {:.2f}  after: {:.2f} {:.2f} {:.2f}".format(*result["load_before"], *result["load_after"])]
    if not result["llama_bench"]:
        lines.append("(no llama-bench: pass --llama-bench PATH; only the mode/off ratios)")
    lines.append(f"{'task':<5} {'mode':<6} {'tok/s':>8} {'/off':>6} {'/llama-bench':>13}  acceptance")
    for task, t in result["tasks"].items():
        if t["llama_bench_median"]:
            lines.append(f"{task:<5} {'llama-bench -d ' + str(t['depth']):<22} {t['llama_bench_median']:>8.1f}")
        for mode, m in t["modes"].items():
            vs_lb = f"{m['vs_llama_bench_median']:.3f}" if m["vs_llama_bench_median"] else "-"
            acc = f"{m['acceptance']:.0%} of {m['draft_tokens']}" if m["draft_tokens"] else "-"
            lines.append(f"{task:<5} {mode:<6} {m['median_tps']:>8.1f} {m['vs_off_median']:>6.2f} {vs_lb:>13}  {acc}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="GGUF (default: the SmolLM2 test model)")
    ap.add_argument("--tiny-glm", action="store_true", help="the tiny GLM-shaped test model with a NextN layer")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--gpu-layers", type=int, default=None, help="as glmchat's --gpu-layers (default: glmchat's plan)")
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--llama-bench", type=Path, default=None)
    ap.add_argument("--no-llama-bench", action="store_true", help="glmchat's modes only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    args = ap.parse_args(argv)
    result = run(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2) if args.json else "\n".join(report(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
