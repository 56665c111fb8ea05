"""Generation speed: glmchat's LocalEngine vs `glmchat bench` vs llama-cpp-python's high-level API vs llama-bench.

    python benchmarks/engine_speed.py [--model PATH | --tiny-glm] [--threads N] [--n-gen 128]
                                      [--reps 3] [--llama-bench PATH] [--json]

All run on the same GGUF with the same thread count, one after another (never two at once):

(a) glmchat: `glmchat.bench.measure_generation` in this process — `LocalEngine.stream` with the
    `general` profile (temperature 1.0, top_k 40, top_p 0.95, min_p 0.01), end-of-generation tokens
    suppressed in C (`ignore_eos=True`) so every run makes exactly n tokens.
    Rate = completion_tokens / generation_time (end of prompt → last token).
(a') glmchat-bench: `python -m glmchat bench --model M -p 0 -n N -r 1 -t T --ctx C --json` as a
    subprocess (empty config dir), once per round right after one run of (a), so both see the
    same background load: the same function behind the CLI, so its median should land within 5%
    of (a)'s.
(b) high level: `Llama.create_completion(stream=True)` with the same sampling values and prompt text.
    Its only way to suppress EOS is a Python logits processor, which would slow it down, so it runs
    unbiased on a prompt that keeps going. Rate = (tokens - 1) / (last chunk - first chunk): the same
    per-token work (one sample + one decode) as (a).
(c) `llama-bench -p 0 -n N -t THREADS -fa 0|1 -o json`: text generation only (decode, no sampling),
    "samples_ts". Flash attention as glmchat chose it (off on the CPU); llama-bench's own default
    (auto) turns it on for the CPU, which alone is worth ~5% on SmolLM2.

Prints each median and the ratios glmchat / high-level, glmchat / llama-bench (target ≥ 0.95) and
glmchat-bench / glmchat (target 0.95-1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from glmchat.bench import TG_PROMPT as PROMPT  # noqa: E402 - after the sys.path fix above
from glmchat.bench import Measurement, RateStats, measure_generation  # noqa: E402


@dataclass
class GenerationResult(RateStats):
    """Tokens per second over `reps` runs of `n_gen` generated tokens."""

    name: str
    n_gen: int
    rates: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median": self.median, "best": self.best}


    @classmethod
    def from_measurement(cls, name: str, m: Measurement) -> "GenerationResult":
        return cls(name=name, n_gen=m.n_tokens, rates=list(m.rates), tokens=list(m.tokens))


def measure_glmchat(engine: Any, n_gen: int, reps: int, sampling: Any, *, cli: tuple[Path, int, int] | None = None) -> list[GenerationResult]:
    """(a) glmchat.bench.measure_generation — the function `glmchat bench` runs — and, with `cli`
    = (model, threads, n_ctx), (a') the `glmchat bench` command itself.

    Paired rounds on a shared machine: each round makes one in-process run and then one
    `glmchat bench -r 1` run (after its own warm-up), so load from other work hits both alike.
    """
    ours = GenerationResult(name="glmchat", n_gen=n_gen, prompt_tokens=engine.count_tokens(_request()))
    theirs = GenerationResult(name="glmchat-bench", n_gen=n_gen)
    for r in range(reps):
        m = measure_generation(engine, n_gen, reps=1, sampling=sampling, prompt=PROMPT, warmup=r == 0)
        ours.rates += m.rates
        ours.tokens += m.tokens
        if cli is not None:
            model, threads, n_ctx = cli
            one = measure_glmchat_bench(model, n_gen, threads, n_ctx, 1)
            theirs.rates += one.rates
            theirs.tokens += one.tokens
    return [ours, theirs] if cli is not None else [ours]


def measure_glmchat_bench(model: Path, n_gen: int, threads: int, n_ctx: int, reps: int) -> GenerationResult:
    """(a'): the `glmchat bench` command in a subprocess, with an empty config so no user setting leaks in."""
    with tempfile.TemporaryDirectory(prefix="glmchat-bench-") as tmp:
        env = {**os.environ, "GLMCHAT_CONFIG_DIR": tmp, "GLMCHAT_DATA_DIR": tmp, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "glmchat", "bench", "--model", str(model), "-p", "0", "-n", str(n_gen), "-r", str(reps),
               "-t", str(threads), "--ctx", str(n_ctx), "--json"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"glmchat bench failed ({out.returncode}): {out.stderr.strip()}")
    data = json.loads(out.stdout)
    row = next(r for r in data["results"] if r["test"] == f"tg{n_gen}")
    result = GenerationResult(name="glmchat-bench", n_gen=n_gen, rates=[float(x) for x in row["runs_tps"]], tokens=[n_gen] * len(row["runs_tps"]))
    return result


def measure_high_level(model: Path, prompt_text: str, n_gen: int, threads: int, n_ctx: int, reps: int, sampling: Any, flash_attn: bool = False) -> GenerationResult:
    """llama-cpp-python's Llama.create_completion, streamed, same sampling values."""
    import llama_cpp

    from glmchat.engine import llama_log

    llm = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512, flash_attn=flash_attn, verbose=False)
    llama_log.install()  # Llama() re-installs its own stderr logger; route it to the file again
    result = GenerationResult(name="high-level", n_gen=n_gen)
    n_prompt = len(llm.tokenize(prompt_text.encode(), add_bos=False, special=True))
    result.prompt_tokens = n_prompt
    for i in range(reps + 1):
        llm.reset()
        t_first = t_last = 0.0
        chunks = 0
        for _chunk in llm.create_completion(
            prompt_text,
            max_tokens=n_gen,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            seed=1000 + i,
            stream=True,
        ):
            now = time.perf_counter()
            if chunks == 0:
                t_first = now
            t_last = now
            chunks += 1
        generated = llm.n_tokens - n_prompt
        if i == 0:
            continue  # warm-up
        if generated > 1 and t_last > t_first:
            result.rates.append((generated - 1) / (t_last - t_first))
            result.tokens.append(generated)
    if any(t < n_gen for t in result.tokens):
        result.note = "stopped early on EOS in some runs (rate over the tokens made)"
    llm.close()
    return result


def measure_llama_bench(binary: Path, model: Path, n_gen: int, threads: int, reps: int, flash_attn: bool = False) -> GenerationResult:
    """(c): llama-bench with glmchat's flash-attention choice (its own default, auto, turns it on for the CPU)."""
    cmd = [str(binary), "-m", str(model), "-t", str(threads), "-p", "0", "-n", str(n_gen), "-r", str(reps), "-fa", "1" if flash_attn else "0", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    result = GenerationResult(name="llama-bench", n_gen=n_gen)
    for row in rows:
        if row.get("n_gen", 0) > 0:
            samples = row.get("samples_ts") or [row["avg_ts"]]
            result.rates.extend(float(x) for x in samples)
            result.tokens.extend([n_gen] * len(samples))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="GGUF file (default: the SmolLM2 test model)")
    ap.add_argument("--tiny-glm", action="store_true", help="build and use the tiny GLM-shaped test model")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: physical cores)")
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--llama-bench", type=Path, help="path of a llama-bench binary built from the same llama.cpp")
    ap.add_argument("--skip-high-level", action="store_true")
    ap.add_argument("--skip-glmchat-bench", action="store_true", help="do not run `glmchat bench` as a subprocess")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    from glmchat.engine.devices import physical_cores
    from glmchat.engine.local import LocalEngine
    from glmchat.settings import BUILTIN_PROFILES

    if args.tiny_glm:
        from tests.fixtures.tiny_glm import build_tiny_glm

        model = build_tiny_glm(Path(tempfile.gettempdir()) / "glmchat-bench" / "tiny-glm.gguf")
    elif args.model:
        model = args.model
    else:
        from tests.conftest import find_smollm2

        model = find_smollm2()
        if model is None:
            ap.error("no --model given and the SmolLM2 test model is not installed")
    threads = args.threads or physical_cores()
    sampling = BUILTIN_PROFILES["general"]

    engine = LocalEngine.load(model, n_ctx=args.n_ctx, n_threads=threads)
    flash_attn = bool(engine.info.details.get("flash_attn"))  # what glmchat chose; the others run the same
    prompt_text = engine.render(_request())
    cli = None if args.skip_glmchat_bench else (Path(model), threads, args.n_ctx)
    results = measure_glmchat(engine, args.n_gen, args.reps, sampling, cli=cli)
    engine.close()
    if not args.skip_high_level:
        results.append(measure_high_level(Path(model), prompt_text, args.n_gen, threads, args.n_ctx, args.reps, sampling, flash_attn))
    if args.llama_bench:
        results.append(measure_llama_bench(args.llama_bench, Path(model), args.n_gen, threads, args.reps, flash_attn))

    by_name = {r.name: r for r in results}
    ours = by_name["glmchat"].median
    best = by_name["glmchat"].best
    others = [name for name in by_name if name not in ("glmchat", "glmchat-bench")]
    ratios = {f"glmchat/{name}": ours / by_name[name].median for name in others if by_name[name].median}
    ratios_best = {f"glmchat/{name} (best)": best / by_name[name].best for name in others if by_name[name].best}
    cli = by_name.get("glmchat-bench")
    if cli and ours:
        ratios["glmchat-bench/glmchat"] = cli.median / ours
    if args.json:
        print(json.dumps({"model": str(model), "threads": threads, "flash_attn": flash_attn, "n_gen": args.n_gen, "results": [r.to_dict() for r in results], "ratios": ratios, "ratios_best": ratios_best}, indent=2))
        return 0
    print(f"model {model.name}, {threads} threads, flash attention {'on' if flash_attn else 'off'}, {args.n_gen} tokens × {args.reps} runs")
    for r in results:
        runs = ", ".join(f"{x:.1f}" for x in r.rates)
        print(f"  {r.name:<14} median {r.median:7.1f}  best {r.best:7.1f} tok/s   runs: {runs}" + (f"   ({r.note})" if r.note else ""))
    for name, value in {**ratios, **ratios_best}.items():
        if name == "glmchat-bench/glmchat":
            flag = "" if 0.95 <= value <= 1.05 else "   (outside the ±5% target)"
        else:
            flag = "" if value >= 0.95 else "   (below the 0.95 target)"
        print(f"  {name:<32} {value:.3f}{flag}")
    return 0


def _request():
    from glmchat.engine.base import ChatRequest

    return ChatRequest(messages=[{"role": "user", "content": PROMPT}])


if __name__ == "__main__":
    raise SystemExit(main())
