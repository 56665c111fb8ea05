"""`glmchat bench`: prompt processing and generation speed through glmchat's own engine path.

In the spirit of llama-bench: pp (evaluate an N-token prompt from an empty cache) and tg (generate
exactly N tokens, end-of-generation suppressed), each repeated, median reported. Both go through
`LocalEngine.stream()` — the same loop a chat turn uses — and read the rates from its `Usage`, so
the figures are what `glmchat ask --json` would report. `benchmarks/engine_speed.py` uses the same
functions for its side-by-side comparison with llama-cpp-python's high-level API and llama-bench.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from glmchat.engine.backend_sampling import request_path_text
from glmchat.engine.base import Benchmarkable, ChatRequest, Finished, SamplingParams
from glmchat.settings import BUILTIN_PROFILES

# One prompt for every tg figure (this module, `glmchat bench`, benchmarks/engine_speed.py): a request
# that keeps a model talking, so runs without EOS suppression (llama-cpp-python's API) rarely stop early.
TG_PROMPT = "Write a very long story about a lighthouse keeper and the sea. Describe every day of the year in detail."
_FILLER = "The quick brown fox jumps over the lazy dog while the river keeps flowing past old stone bridges. "


class RateStats:
    """Summary figures over `self.rates` (tok/s per run); shared with benchmarks/engine_speed.py."""

    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def best(self) -> float:
        """Fastest run: the least disturbed by other work on a busy machine."""
        return max(self.rates) if self.rates else 0.0

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.rates) if len(self.rates) > 1 else 0.0


@dataclass
class Measurement(RateStats):
    test: str  # "pp512" | "tg128"
    n_tokens: int
    rates: list[float] = field(default_factory=list)  # tok/s per repetition
    tokens: list[int] = field(default_factory=list)  # tokens measured per repetition
    draft_tokens: int = 0  # speculative decoding, all runs together: tokens drafted
    accepted_draft_tokens: int = 0  # of those, accepted

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "n_tokens": self.n_tokens, "median_tps": self.median, "best_tps": self.best, "stdev_tps": self.stdev, "runs_tps": self.rates,
                "draft_tokens": self.draft_tokens, "accepted_draft_tokens": self.accepted_draft_tokens}


def _run(engine: Benchmarkable, request: ChatRequest) -> Any:
    usage = None
    for item in engine.stream(request, ignore_eos=True):
        if isinstance(item, Finished):
            usage = item.usage
    if usage is None:  # pragma: no cover - engines always finish
        raise RuntimeError("the engine did not finish")
    return usage


def prompt_of(engine: Benchmarkable, n_tokens: int) -> ChatRequest:
    """A one-message request whose rendered prompt is n_tokens long (± a couple of tokens)."""
    words = _FILLER.split()
    lo, hi = 1, n_tokens * 2
    best = ChatRequest(messages=[{"role": "user", "content": "hi"}])
    while lo <= hi:  # binary search on the number of filler words
        mid = (lo + hi) // 2
        text = " ".join(words[i % len(words)] for i in range(mid))
        req = ChatRequest(messages=[{"role": "user", "content": text}])
        n = engine.count_tokens(req)
        if n <= n_tokens:
            best, lo = req, mid + 1
        else:
            hi = mid - 1
    return best


def measure_prompt(engine: Benchmarkable, n_prompt: int = 512, *, reps: int = 3, warmup: bool = True) -> Measurement:
    """Prompt processing tok/s: the whole prompt evaluated from an empty KV cache."""
    req = prompt_of(engine, n_prompt)
    req.sampling = SamplingParams(temperature=0.0, max_tokens=1)
    result = Measurement(f"pp{n_prompt}", engine.count_tokens(req))
    for i in range(reps + (1 if warmup else 0)):
        engine.reset_cache()
        usage = _run(engine, req)
        if warmup and i == 0:
            continue
        evaluated = usage.prompt_tokens - usage.cached_prompt_tokens
        result.rates.append(evaluated / usage.prompt_time if usage.prompt_time else 0.0)
        result.tokens.append(evaluated)
    return result


def measure_generation(
    engine: Benchmarkable, n_gen: int = 128, *, reps: int = 3, sampling: SamplingParams | None = None, prompt: str = TG_PROMPT, warmup: bool = True
) -> Measurement:
    """Generation tok/s: exactly n_gen tokens (EOS suppressed) with the `general` profile by default.

    Each run starts from an empty KV cache with the same prompt and seed 1000 + run; the rate is
    Usage.generation_tokens_per_second (completion_tokens / (end of prompt → last token)).
    """
    sampling = replace(sampling or BUILTIN_PROFILES["general"], max_tokens=n_gen)
    result = Measurement(f"tg{n_gen}", n_gen)
    for i in range(reps + (1 if warmup else 0)):
        engine.reset_cache()
        req = ChatRequest(messages=[{"role": "user", "content": prompt}], sampling=replace(sampling, seed=1000 + i))
        usage = _run(engine, req)
        if warmup and i == 0:
            continue
        result.rates.append(usage.generation_tokens_per_second)
        result.tokens.append(usage.completion_tokens)
        result.draft_tokens += usage.draft_tokens
        result.accepted_draft_tokens += usage.accepted_draft_tokens
    return result


def run_bench(engine: Benchmarkable, *, n_prompt: int = 512, n_gen: int = 128, reps: int = 3, profile: SamplingParams | None = None) -> dict[str, Any]:
    pp = measure_prompt(engine, n_prompt, reps=reps) if n_prompt else None
    tg = measure_generation(engine, n_gen, reps=reps, sampling=profile) if n_gen else None
    info = engine.info
    return {
        "model": info.model,
        "path": info.path,
        "backend": info.backend,
        "threads": info.details.get("threads"),
        "n_ctx": info.n_ctx,
        "plan": info.details.get("plan"),
        "speculative": speculative_summary(engine),
        "sampling": request_path_text(info.details.get("sampling", "CPU chain"), profile or BUILTIN_PROFILES["general"]),  # where tg samples
        "results": [m.to_dict() for m in (pp, tg) if m is not None],
    }


def speculative_summary(engine: Benchmarkable) -> dict[str, Any]:
    """The speculative mode asked for, the drafter it runs ("ngram" or "off") and a note when they differ."""
    from glmchat.engine.speculative import mode_note, resolve_mode

    mode = getattr(engine, "speculative", "off")
    loaded = getattr(getattr(engine, "info", None), "details", {}).get("speculative")
    if loaded and loaded.get("mode") == mode:  # the local engine's, knowing its NextN layer (mtp_draft.describe)
        return loaded
    return {"mode": mode, "runs": resolve_mode(mode), "note": mode_note(mode)}
