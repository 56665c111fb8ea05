"""N-gram speculative decoding: tokens per second with `speculative = "off"` and `"ngram"`.

    python benchmarks/speculative_speed.py [--model PATH] [--threads N] [--n-gen 192]
                                           [--rounds 5] [--temperature 0] [--flash-attn on|off] [--json]
    python benchmarks/requantize.py /tmp/smollm2-Q8_0.gguf && \
        python benchmarks/speculative_speed.py --model /tmp/smollm2-Q8_0.gguf --flash-attn off

One LocalEngine (SmolLM2 by default), two prompts:

- copy: "Repeat this code exactly" + 66 lines of Python (the model copies from its prompt, the
  case prompt-lookup drafting is for);
- free: a short story (free text: drafts rarely match; the target is no loss).

Each round runs every (prompt, mode) once, the mode order alternating round by round, so bursts of
load from other work on a shared machine hit both modes alike; the cache is reset before every run
(the whole prompt is read each time, outside the timed part). Rate = completion_tokens /
generation_time (end of prompt → last token). Greedy by default (temperature 0), so both modes
make the same tokens and the rates compare the same work.

Prints, per prompt: the median rate of each mode, the acceptance (accepted / drafted tokens), the
median of the per-round ratios ngram / off (targets: copy ≥ 1.8, free ≥ 0.97) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from glmchat.engine.base import ChatRequest, Finished, SamplingParams  # noqa: E402 - after the sys.path fix above
from glmchat.speculative_bench import COPY_PROMPT, FREE_PROMPT  # noqa: E402 - the one home of the two tasks

PROMPTS = {"copy": COPY_PROMPT, "free": FREE_PROMPT}
TARGETS = {"copy": 1.8, "free": 0.97}


def smollm2() -> Path:
    from tests.conftest import find_smollm2

    path = find_smollm2()
    if path is None:
        raise SystemExit("SmolLM2 is not installed; pass --model PATH.")
    return Path(path)


def once(engine, mode: str, prompt: str, sampling: SamplingParams) -> dict:
    engine.speculative = mode
    engine.reset_cache()
    usage = None
    for item in engine.stream(ChatRequest(messages=[{"role": "user", "content": prompt}], sampling=sampling)):
        if isinstance(item, Finished):
            usage = item.usage
    return {"rate": usage.generation_tokens_per_second, "tokens": usage.completion_tokens,
            "drafted": usage.draft_tokens, "accepted": usage.accepted_draft_tokens}


def run(args: argparse.Namespace) -> dict:
    from glmchat.engine.local import LocalEngine

    model = Path(args.model) if args.model else smollm2()
    sampling = SamplingParams(temperature=args.temperature, top_k=40, top_p=0.95, min_p=0.01, max_tokens=args.n_gen, seed=1)
    engine = LocalEngine.load(model, n_ctx=4096, n_threads=args.threads, flash_attn=args.flash_attn == "on")
    runs: dict[str, dict[str, list[dict]]] = {p: {"off": [], "ngram": []} for p in PROMPTS}
    load_before = os.getloadavg()
    try:
        for prompt in PROMPTS.values():  # warm-up, not recorded
            once(engine, "ngram", prompt, sampling)
        for r in range(args.rounds):
            modes = ("off", "ngram") if r % 2 == 0 else ("ngram", "off")
            for name, prompt in PROMPTS.items():
                for mode in modes:
                    runs[name][mode].append(once(engine, mode, prompt, sampling))
    finally:
        engine.close()
    return {"model": str(model), "threads": engine.info.cpu_threads, "temperature": args.temperature, "n_gen": args.n_gen,
            "load_before": load_before, "load_after": os.getloadavg(), "prompts": {n: summarize(runs[n], n) for n in PROMPTS}}


def summarize(runs: dict[str, list[dict]], name: str) -> dict:
    off, ngram = runs["off"], runs["ngram"]
    ratios = [b["rate"] / a["rate"] for a, b in zip(off, ngram, strict=True) if a["rate"] > 0]
    drafted = sum(x["drafted"] for x in ngram)
    return {
        "off_median": statistics.median(x["rate"] for x in off),
        "ngram_median": statistics.median(x["rate"] for x in ngram),
        "ratio_median": statistics.median(ratios) if ratios else 0.0,
        "ratios": ratios,
        "tokens": [x["tokens"] for x in ngram],
        "acceptance": sum(x["accepted"] for x in ngram) / drafted if drafted else 0.0,
        "drafted_per_run": drafted / len(ngram),
        "target": TARGETS[name],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="GGUF to run (default: the SmolLM2 test model)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--n-gen", type=int, default=192)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--flash-attn", choices=("on", "off"), default="on",
                    help="on (glmchat's default) or off: on the CPU, off makes a batch cheaper for dense models (benchmarks/README.md)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['model']}  threads={result['threads']}  temperature={args.temperature}  flash_attn={args.flash_attn}  n_gen={args.n_gen}  rounds={args.rounds}")
    print("load average before: {:.2f} {:.2f} {:.2f}  after: {:.2f} {:.2f} {:.2f}".format(*result["load_before"], *result["load_after"]))
    for name, s in result["prompts"].items():
        verdict = "meets" if s["ratio_median"] >= s["target"] else "misses"
        print(f"{name:5s} off {s['off_median']:6.1f} tok/s  ngram {s['ngram_median']:6.1f} tok/s  "
              f"ratio (median of rounds) {s['ratio_median']:.2f}  [{', '.join(f'{r:.2f}' for r in s['ratios'])}]  "
              f"acceptance {s['acceptance']:.0%} of {s['drafted_per_run']:.0f} drafted/run  target ≥ {s['target']}: {verdict}")


if __name__ == "__main__":
    main()
