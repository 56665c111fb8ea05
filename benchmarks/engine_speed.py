"""Generation speed: glmchat's LocalEngine vs `glmchat bench` vs llama-cpp-python's high-level API vs llama-bench.

    python benchmarks/engine_speed.py [--model PATH | --tiny-glm] [--threads N] [--n-gen 128]
                                      [--reps 3] [--llama-bench PATH] [--sampling cpu|backend|both] [--json]

All run on the same GGUF with the same thread count, one after another (never two at once), in
interleaved rounds: each round runs every contender once, so bursts of load from other work on a
shared machine hit them alike:

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
(c) `llama-bench -p 0 -n N -d D -t THREADS -fa 0|1 -o json`: text generation only (decode, no
    sampling), "samples_ts", from KV depth D = glmchat's prompt length, so both generate the same
    positions (the target ratio); and again with -d 0 (plain tg128) for reference. Flash attention
    as glmchat chose it (on by default, also on the CPU, where it is worth ~5% on SmolLM2).

`--sampling`: where (a) samples — "cpu" (the C sampler chain on the logit row, the default), "backend"
(the chain inside llama.cpp's compute graph, `glmchat.engine.backend_sampling`, forced on) or "both":
then (a) runs twice a round on the one engine, as `glmchat` (CPU chain) and `glmchat-graph`.

Prints each median and the ratios glmchat / high-level, glmchat / llama-bench (target ≥ 0.95) and
glmchat-bench / glmchat (target 0.95-1.05): of the medians, of the best runs, and the median of
the ratios taken round by round (the steadiest of the three on a noisy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


class HighLevel:
    """(b): llama-cpp-python's Llama.create_completion, streamed, same sampling values; loaded once."""

    def __init__(self, model: Path, prompt_text: str, n_gen: int, threads: int, n_ctx: int, sampling: Any, flash_attn: bool = False) -> None:
        import llama_cpp

        from glmchat.engine import llama_log

        self.llm = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512, flash_attn=flash_attn, verbose=False)
        llama_log.install()  # Llama() re-installs its own stderr logger; route it to the file again
        self.prompt_text, self.n_gen, self.sampling = prompt_text, n_gen, sampling
        self.result = GenerationResult(name="high-level", n_gen=n_gen)
        self.n_prompt = len(self.llm.tokenize(prompt_text.encode(), add_bos=False, special=True))
        self.result.prompt_tokens = self.n_prompt
        self.runs = 0

    def once(self, record: bool = True) -> float | None:
        llm, sampling = self.llm, self.sampling
        llm.reset()
        t_first = t_last = 0.0
        chunks = 0
        self.runs += 1
        for _chunk in llm.create_completion(
            self.prompt_text,
            max_tokens=self.n_gen,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            seed=1000 + self.runs,
            stream=True,
        ):
            now = time.perf_counter()
            if chunks == 0:
                t_first = now
            t_last = now
            chunks += 1
        generated = llm.n_tokens - self.n_prompt
        if not record or generated <= 1 or t_last <= t_first:
            return None
        rate = (generated - 1) / (t_last - t_first)
        self.result.rates.append(rate)
        self.result.tokens.append(generated)
        if generated < self.n_gen:
            self.result.note = "stopped early on EOS in some runs (rate over the tokens made)"
        return rate

    def close(self) -> None:
        self.llm.close()


def measure_llama_bench(binary: Path, model: Path, n_gen: int, threads: int, reps: int, flash_attn: bool = False, depth: int = 0) -> GenerationResult:
    """(c): llama-bench with glmchat's flash-attention choice (its own default, auto, turns it on for
    the CPU), generating from KV depth `depth` (`-d`): each token attends to the cache before it, so
    tokens 40-168 cost a few percent more than tokens 0-128 even on SmolLM2."""
    cmd = [str(binary), "-m", str(model), "-t", str(threads), "-p", "0", "-n", str(n_gen), "-d", str(depth), "-r", str(reps),
           "-fa", "1" if flash_attn else "0", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    result = GenerationResult(name="llama-bench" if depth else "llama-bench@0", n_gen=n_gen)
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
    ap.add_argument("--sampling", choices=("cpu", "backend", "both"), default="cpu", help="glmchat's sampling path: the CPU chain, in the graph, or both")
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

    engine = LocalEngine.load(model, n_ctx=args.n_ctx, n_threads=threads, backend_sampling="off" if args.sampling == "cpu" else "on")
    paths = {"cpu": [False], "backend": [True], "both": [False, True]}[args.sampling]
    if True in paths and not engine.sampling.set_in_graph(True).in_graph:
        ap.error(f"in-graph sampling does not run here: {engine.sampling.path.text()}")
    flash_attn = bool(engine.info.details.get("flash_attn"))  # what glmchat chose; the others run the same
    prompt_text = engine.render(_request())
    ours = GenerationResult(name="glmchat", n_gen=args.n_gen, prompt_tokens=engine.count_tokens(_request()))
    graph = GenerationResult(name="glmchat-graph", n_gen=args.n_gen, prompt_tokens=ours.prompt_tokens) if len(paths) > 1 else None
    cli = None if args.skip_glmchat_bench else GenerationResult(name="glmchat-bench", n_gen=args.n_gen)
    # the high-level Llama runs on the engine's compute thread too: one calling thread, one OpenMP
    # pool (a second pool in the process would slow both; see glmchat.engine.compute_thread)
    high = None if args.skip_high_level else engine.on_compute_thread(
        lambda: HighLevel(Path(model), prompt_text, args.n_gen, threads, args.n_ctx, sampling, flash_attn)
    )
    bench = GenerationResult(name="llama-bench", n_gen=args.n_gen) if args.llama_bench else None
    bench0 = GenerationResult(name="llama-bench@0", n_gen=args.n_gen) if args.llama_bench else None
    depth = ours.prompt_tokens  # glmchat generates after its prompt; llama-bench -d starts at the same position
    if high is not None:
        engine.on_compute_thread(high.once, False)  # warm-up
    # Interleaved rounds on a shared machine: each round runs every contender once, so a burst of
    # load from other work hits them alike; the ratios are also taken round by round.
    per_round: dict[str, list[float]] = {}
    for r in range(args.reps):
        mine = _glmchat_round(engine, args, sampling, r, paths, ours, graph, per_round)
        if cli is not None:
            one = measure_glmchat_bench(Path(model), args.n_gen, threads, args.n_ctx, 1)
            cli.rates += one.rates
            cli.tokens += one.tokens
        if high is not None:
            rate = engine.on_compute_thread(high.once)
            if rate:
                per_round.setdefault("glmchat/high-level", []).append(mine / rate)
        if bench is not None:
            for result, d in ((bench, depth), (bench0, 0)):
                one = measure_llama_bench(args.llama_bench, Path(model), args.n_gen, threads, 1, flash_attn, depth=d)
                result.rates += one.rates
                result.tokens += one.tokens
                if one.rates:
                    per_round.setdefault(f"glmchat/{result.name}", []).append(mine / one.rates[-1])
                    if graph is not None:
                        per_round.setdefault(f"glmchat-graph/{result.name}", []).append(graph.rates[-1] / one.rates[-1])
    if high is not None:
        high.close()
    engine.close()
    results = [x for x in (ours, graph, cli, high.result if high else None, bench, bench0) if x is not None]

    by_name = {r.name: r for r in results}
    ours_median = by_name["glmchat"].median
    best = by_name["glmchat"].best
    others = [name for name in by_name if name not in ("glmchat", "glmchat-bench", "glmchat-graph")]
    ratios = {f"glmchat/{name}": ours_median / by_name[name].median for name in others if by_name[name].median}
    ratios_best = {f"glmchat/{name} (best)": best / by_name[name].best for name in others if by_name[name].best}
    cli = by_name.get("glmchat-bench")
    if cli and ours_median:
        ratios["glmchat-bench/glmchat"] = cli.median / ours_median
    ratios_round = {f"{k} (median per round)": statistics.median(v) for k, v in per_round.items()}
    if args.json:
        print(json.dumps({"model": str(model), "threads": threads, "flash_attn": flash_attn, "n_gen": args.n_gen, "sampling": args.sampling, "results": [r.to_dict() for r in results], "ratios": ratios, "ratios_best": ratios_best, "ratios_per_round": ratios_round}, indent=2))
        return 0
    print(f"model {model.name}, {threads} threads, flash attention {'on' if flash_attn else 'off'}, {args.n_gen} tokens × {args.reps} runs")
    print("  sampling: " + {"cpu": "glmchat = CPU chain", "backend": "glmchat = in-graph (backend)", "both": "glmchat = CPU chain, glmchat-graph = in-graph (backend)"}[args.sampling])
    if args.llama_bench:
        print(f"  glmchat generates after its {depth}-token prompt: llama-bench runs -d {depth} (same positions) and, for reference, -d 0")
    for r in results:
        runs = ", ".join(f"{x:.1f}" for x in r.rates)
        print(f"  {r.name:<14} median {r.median:7.1f}  best {r.best:7.1f} tok/s   runs: {runs}" + (f"   ({r.note})" if r.note else ""))
    for name, value in {**ratios, **ratios_best, **ratios_round}.items():
        if name == "glmchat-bench/glmchat":
            flag = "" if 0.95 <= value <= 1.05 else "   (outside the ±5% target)"
        elif name.startswith("glmchat-graph/glmchat "):
            flag = ""  # the two sampling paths against each other: no target
        else:
            flag = "" if value >= 0.95 else "   (below the 0.95 target)"
        print(f"  {name:<32} {value:.3f}{flag}")
    return 0


def _glmchat_round(engine: Any, args: Any, sampling: Any, r: int, paths: list[bool], ours: GenerationResult, graph: GenerationResult | None,
                   per_round: dict[str, list[float]]) -> float:
    """(a) once per sampling path in `paths` (CPU chain into `ours`, in-graph into `graph` when both run;
    the one path into `ours` otherwise); returns `ours`' rate of this round."""
    rates = {}
    for in_graph in paths:
        engine.sampling.set_in_graph(in_graph)
        m = measure_generation(engine, args.n_gen, reps=1, sampling=sampling, prompt=PROMPT, warmup=r == 0)
        into = graph if (graph is not None and in_graph) else ours
        into.rates += m.rates
        into.tokens += m.tokens
        rates[in_graph] = m.rates[-1]
    if graph is not None:
        per_round.setdefault("glmchat-graph/glmchat", []).append(rates[True] / rates[False])
    return rates[paths[0]]


def _request():
    from glmchat.engine.base import ChatRequest

    return ChatRequest(messages=[{"role": "user", "content": PROMPT}])


if __name__ == "__main__":
    raise SystemExit(main())
