"""The llama.cpp sampler chain the local engine builds for every request.

Order of the chain:

1. grammar (only when a grammar is given): `llama_sampler_init_grammar(vocab, gbnf, "root")`.
   First, so every later stage only ever sees tokens the grammar allows.
2. repeat penalty (only when != 1.0; GLM's recommendation is 1.0 = off), last 64 tokens.
3. top_k (only when > 0). Before top_p / min_p on purpose: those sort the candidates, and sorting
   GLM's 154,880-token vocabulary every token is expensive; top_k 40 cuts it to 40 first.
   top_k = 0 skips it (exact vLLM / Z.ai semantics, slower).
4. top_p, 5. min_p (min_keep 1 each), 6. temperature, 7. dist(seed) — a random draw with the seed
   (`seed=None`: a random seed). temperature <= 0 replaces 4-7 with greedy.

Where `[model] backend_sampling` and the request allow it, this same chain runs inside llama.cpp's
compute graph (`glmchat.engine.backend_sampling`); `llama_sampler_sample` then returns its token.

`lc` is the llama_cpp module (or a stand-in that wraps it, as tests use); `vocab` the model's vocab.
"""

from __future__ import annotations

from typing import Any, Sequence

from glmchat.engine.base import SamplingParams
from glmchat.errors import UsageError

PENALTY_LAST_N = 64
DEFAULT_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp picks a random seed


def build_sampler_chain(
    lc: Any, vocab: Any, sampling: SamplingParams, grammar: str | None = None, *, extra_first: Sequence[Any] = (), log_path: Any = None
) -> Any:
    """A sampler chain for `sampling` (see the module docstring); free with `llama_sampler_free`.

    `extra_first`: samplers placed at the head of the chain (benchmarks add a logit bias).
    `log_path`: the llama.cpp log, named in the error a bad grammar raises.
    """
    params = lc.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = lc.llama_sampler_chain_init(params)
    try:
        for s in extra_first:
            lc.llama_sampler_chain_add(chain, s)
        if grammar:
            g = lc.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
            if not g:
                raise UsageError("The grammar (GBNF) could not be parsed.", f"See the llama.cpp log: {log_path}")
            lc.llama_sampler_chain_add(chain, g)
        if sampling.repeat_penalty != 1.0:
            n_vocab = lc.llama_vocab_n_tokens(vocab)
            penalties = lc.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, float(sampling.repeat_penalty), 0.0, 0.0)
            lc.llama_sampler_chain_add(chain, penalties)
        _add_draw(lc, chain, sampling)
    except BaseException:
        lc.llama_sampler_free(chain)
        raise
    return chain


def _add_draw(lc: Any, chain: Any, sampling: SamplingParams) -> None:
    """Stages 3-7: greedy for temperature <= 0, else top_k, top_p, min_p, temperature, dist(seed)."""
    if sampling.temperature <= 0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        return
    if sampling.top_k > 0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(int(sampling.top_k)))
    if sampling.top_p < 1.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(float(sampling.top_p), 1))
    if sampling.min_p > 0.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(float(sampling.min_p), 1))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(float(sampling.temperature)))
    seed = DEFAULT_SEED if sampling.seed is None else int(sampling.seed) & 0xFFFFFFFF
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))


def logit_ban_sampler(lc: Any, vocab: Any, tokens: Sequence[int]) -> Any:
    """A logit-bias sampler that gives `tokens` a -inf bias (never sampled)."""
    arr = (lc.llama_logit_bias * len(tokens))()
    for i, t in enumerate(tokens):
        arr[i].token = t
        arr[i].bias = float("-inf")
    return lc.llama_sampler_init_logit_bias(lc.llama_vocab_n_tokens(vocab), len(tokens), arr)
