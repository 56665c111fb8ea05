"""Speculative decoding measured: tg with and without drafting on free text and on a copy-heavy task.

The two tasks are the one home of their prompts (`glmchat bench --speculative-rows`,
benchmarks/speculative_speed.py, benchmarks/spec_vs_llama_bench.py and the speculative tests):

- copy: "Repeat this code exactly" + 66 lines of Python, the model copying from its prompt, the case
  prompt-lookup drafting is for;
- free: a short story, where drafts rarely match (the target there is no loss).

Each round runs both modes on a task, the order alternating round by round, so bursts of load from
other work on a shared machine hit both alike; the KV cache is emptied before every run and the rate
is Usage.generation_tokens_per_second (end of prompt → last token), exactly n tokens (EOS ignored).
The verdict is the median of the per-round ratios with / without.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from glmchat.engine.base import Benchmarkable, ChatRequest, Finished, SamplingParams, Usage

COPY_CODE = "\n".join(
    line
    for i in range(6)
    for line in (
        f"def load_section_{i}(path, strict=False):",
        f'    """Read section {i} of the config file at path."""',
        "    with open(path, encoding='utf-8') as handle:",
        "        lines = [line.rstrip() for line in handle]",
        f"    start = lines.index('[section_{i}]')",
        "    values = {}",
        "    for line in lines[start + 1:]:",
        "        if line.startswith('['):",
        "            break",
        "        key, _, value = line.partition('=')",
        "        values[key.strip()] = value.strip()",
    )
)
COPY_PROMPT = "Repeat this code exactly, with no comment:\n\n" + COPY_CODE
FREE_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
TASKS = {"free": FREE_PROMPT, "copy": COPY_PROMPT}  # the order rows are printed in


def mtp_ready(engine: Benchmarkable) -> bool:
    """Whether the engine loaded the model's NextN layer for MTP drafting (its `speculative` details)."""
    spec = engine.info.details.get("speculative")
    return isinstance(spec, dict) and spec.get("runs") == "mtp"


def drafting_mode(engine: Benchmarkable) -> str:
    """The mode the "with" rows run: the engine's own when it drafts, else n-gram (always available)."""
    from glmchat.engine.speculative import resolve_mode

    mode = getattr(engine, "speculative", "off")
    return mode if resolve_mode(mode, mtp_ready(engine)) != "off" else "ngram"


def generate_once(engine: Benchmarkable, mode: str, prompt: str, sampling: SamplingParams) -> Usage:
    """One run from an empty cache with speculative `mode`; its Usage."""
    engine.speculative = mode  # type: ignore[attr-defined]  # LocalEngine reads it per request
    engine.reset_cache()
    usage = None
    for item in engine.stream(ChatRequest(messages=[{"role": "user", "content": prompt}], sampling=sampling), ignore_eos=True):
        if isinstance(item, Finished):
            usage = item.usage
    if usage is None:  # pragma: no cover - engines always finish
        raise RuntimeError("the engine did not finish")
    return usage


def longest_prompt(engine: Benchmarkable) -> int:
    """Tokens of the longer task prompt (the context must hold it and the generated tokens)."""
    return max(engine.count_tokens(ChatRequest(messages=[{"role": "user", "content": p}])) for p in TASKS.values())


def measure_speculative(engine: Benchmarkable, n_gen: int = 128, *, reps: int = 3, sampling: SamplingParams | None = None,
                        mode: str | None = None, warmup: bool = True) -> dict[str, Any]:
    """tg on each task with speculation off and on (`mode`, default drafting_mode()), interleaved.

    Greedy by default (both modes then make the same tokens, so the rates compare the same work);
    run r uses seed 1000 + r in both modes. The engine's own mode is restored afterwards.
    """
    mode = mode or drafting_mode(engine)
    sampling = replace(sampling or SamplingParams(temperature=0.0), max_tokens=n_gen)
    before = getattr(engine, "speculative", "off")
    runs: dict[str, dict[str, list[Usage]]] = {task: {"off": [], mode: []} for task in TASKS}
    try:
        if warmup:
            for prompt in TASKS.values():
                generate_once(engine, mode, prompt, replace(sampling, max_tokens=min(n_gen, 16)))
        for r in range(reps):
            order = ("off", mode) if r % 2 == 0 else (mode, "off")
            for task, prompt in TASKS.items():
                for m in order:
                    runs[task][m].append(generate_once(engine, m, prompt, replace(sampling, seed=1000 + r)))
    finally:
        engine.speculative = before  # type: ignore[attr-defined]
    from glmchat.engine.speculative import resolve_mode

    return {"mode": mode, "runs": resolve_mode(mode, mtp_ready(engine)), "n_gen": n_gen, "temperature": sampling.temperature,
            "tasks": [summarize(task, runs[task]["off"], runs[task][mode]) for task in TASKS]}


def summarize(task: str, off: list[Usage], on: list[Usage]) -> dict[str, Any]:
    """One task's row pair: rates of each mode, the per-round ratios and their median, the acceptance."""
    off_rates = [u.generation_tokens_per_second for u in off]
    on_rates = [u.generation_tokens_per_second for u in on]
    ratios = [b / a for a, b in zip(off_rates, on_rates, strict=True) if a > 0]
    drafted = sum(u.draft_tokens for u in on)
    accepted = sum(u.accepted_draft_tokens for u in on)
    return {
        "task": task,
        "off_tps": off_rates,
        "on_tps": on_rates,
        "off_median_tps": statistics.median(off_rates) if off_rates else 0.0,
        "on_median_tps": statistics.median(on_rates) if on_rates else 0.0,
        "ratios": ratios,
        "ratio_median": statistics.median(ratios) if ratios else 0.0,
        "draft_tokens": drafted,
        "accepted_draft_tokens": accepted,
        "acceptance": accepted / drafted if drafted else 0.0,
        "completion_tokens": [u.completion_tokens for u in on],
    }


def speculative_lines(rows: dict[str, Any]) -> list[str]:
    """The rows as `glmchat bench` prints them."""
    mode, n = rows["mode"], rows["n_gen"]
    mode = mode if rows["runs"] == mode else f"{mode}→{rows['runs']}"
    lines = [f"speculative rows: tg{n}, temperature {rows['temperature']:g}, off against {mode}, median of per-round ratios"]
    lines.append(f"{'task':>8} {'off t/s':>9} {mode + ' t/s':>11} {'ratio':>7}  acceptance")
    for t in rows["tasks"]:
        acc = f"{t['acceptance']:.0%} ({t['accepted_draft_tokens']}/{t['draft_tokens']})" if t["draft_tokens"] else "no drafts"
        lines.append(f"{t['task']:>8} {t['off_median_tps']:>9.2f} {t['on_median_tps']:>11.2f} {t['ratio_median']:>6.2f}×  {acc}")
    return lines
