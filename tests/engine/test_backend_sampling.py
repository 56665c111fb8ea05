"""In-graph (backend) sampling: which requests and machines use it, and on the tiny GLM (154,880 tokens)
and SmolLM2 that it samples what the CPU chain samples — greedy token for token, seeded runs
repeatable, the first token's distribution that of top_k → top_p → min_p → temperature, speculative
verification exact — and that a grammar falls back to the CPU chain."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from glmchat.engine.backend_sampling import (
    IN_GRAPH,
    SamplingPath,
    check_mode,
    configured_path,
    request_path_text,
    request_reason,
)
from glmchat.engine.base import ChatRequest, Finished, RawText, SamplingParams
from glmchat.errors import UsageError

GENERAL = {"temperature": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.01, "repeat_penalty": 1.0}
GREEDY = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "repeat_penalty": 1.0}


# ---- which requests, which machines (no model) -------------------------------------------------------


def test_a_grammar_or_a_repeat_penalty_keeps_a_request_on_the_cpu_chain():
    assert request_reason(SamplingParams(**GENERAL), None) is None
    assert request_reason(SamplingParams(**GREEDY), None) is None
    assert "grammar" in request_reason(SamplingParams(**GENERAL), 'root ::= "a"')
    assert "repeat penalty" in request_reason(SamplingParams(**{**GENERAL, "repeat_penalty": 1.1}), None)
    assert request_path_text(IN_GRAPH, SamplingParams(**{**GENERAL, "repeat_penalty": 1.1})) == "CPU chain (repeat penalty)"
    assert request_path_text(IN_GRAPH, SamplingParams(**GENERAL)) == IN_GRAPH
    assert request_path_text("CPU chain (x)", SamplingParams(**GENERAL)) == "CPU chain (x)"


def test_doctor_names_the_path_each_mode_picks():
    assert configured_path("off", True, True) == 'CPU chain (backend_sampling = "off")'
    assert configured_path("auto", False, True).startswith("CPU chain (auto: no GPU offload")
    assert configured_path("auto", True, True).startswith(f"{IN_GRAPH} when the output layer is on the GPU")
    assert configured_path("on", False, True).startswith(IN_GRAPH)
    assert "no backend sampling API" in configured_path("on", True, False)
    assert SamplingPath(False, "why").text() == "CPU chain (why)"


def test_an_unknown_mode_is_a_usage_error():
    assert check_mode("auto") == "auto"
    with pytest.raises(UsageError):
        check_mode("gpu")


# ---- on the tiny GLM -----------------------------------------------------------------------------------


def _load(path, mode, tmp_path_factory, **kw):
    from glmchat.engine.local import LocalEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(tmp_path_factory.mktemp("engine-data")))
        return LocalEngine.load(path, n_ctx=2048, n_threads=2, backend_sampling=mode, **kw)


@pytest.fixture(scope="module")
def glm(tiny_glm_path, tmp_path_factory):
    """The tiny GLM with in-graph sampling forced on; tests switch paths with sampling.set_in_graph."""
    eng = _load(tiny_glm_path, "on", tmp_path_factory)
    yield eng
    eng.close()


def tokens_of(engine, in_graph: bool, *, seed=None, max_tokens=32, grammar=None, messages=None, **sampling):
    """The tokens generated (end of generation suppressed unless a grammar is given) and whether the graph sampled them."""
    engine.sampling.set_in_graph(in_graph)
    params = SamplingParams(seed=seed, max_tokens=max_tokens, **(sampling or GENERAL))
    request = ChatRequest(messages=messages or [{"role": "user", "content": "Tell me about the sea."}], sampling=params, grammar=grammar)
    usage, text = None, []
    for item in engine.stream(request, ignore_eos=grammar is None):
        if isinstance(item, Finished):
            usage = item.usage
        elif isinstance(item, RawText):
            text.append(item.text)
    generated = engine.cached_tokens[usage.prompt_tokens:]  # the last sampled token is never decoded
    return generated, engine.sampling.last_in_graph, "".join(text), usage


@pytest.mark.slow
def test_the_check_at_load_decides_the_path(glm, tiny_glm_path, tmp_path_factory):
    assert glm.info.details["sampling"] == IN_GRAPH
    assert glm.sampling.supported
    for mode, expected in (("off", 'CPU chain (backend_sampling = "off")'), ("auto", "CPU chain (auto: the output layer runs on the CPU")):
        eng = _load(tiny_glm_path, mode, tmp_path_factory)
        try:
            assert eng.info.details["sampling"].startswith(expected)
            _, in_graph, _, _ = tokens_of(eng, False, max_tokens=4)
            assert not in_graph
        finally:
            eng.close()


@pytest.mark.slow
def test_greedy_output_is_identical_in_the_graph_and_on_the_cpu(glm):
    graph, in_graph, _, _ = tokens_of(glm, True, max_tokens=32, **GREEDY)
    cpu, on_cpu, _, _ = tokens_of(glm, False, max_tokens=32, **GREEDY)
    assert in_graph and not on_cpu
    assert len(graph) == 31
    assert graph == cpu


@pytest.mark.slow
def test_seeded_sampling_in_the_graph_is_repeatable(glm):
    a, in_graph, _, _ = tokens_of(glm, True, seed=11)
    b, _, _, _ = tokens_of(glm, True, seed=11)
    c, _, _, _ = tokens_of(glm, True, seed=12)
    assert in_graph
    assert a == b
    assert a != c  # the draw does depend on the seed


def _chain_distribution(logits: np.ndarray, *, top_k: int, top_p: float, min_p: float, temperature: float) -> dict[int, float]:
    """What llama.cpp's CPU chain top_k → top_p → min_p → temperature → dist samples from `logits`."""
    order = np.argsort(-logits, kind="stable")
    ids, lv = order, logits[order].astype(np.float64)
    if top_k > 0:
        ids, lv = ids[:top_k], lv[:top_k]
    if top_p < 1.0:
        p = np.exp(lv - lv[0])
        cut = int(np.argmax(np.cumsum(p / p.sum()) >= top_p)) + 1
        ids, lv = ids[:cut], lv[:cut]
    if min_p > 0.0:
        keep = lv >= lv[0] + np.log(min_p)
        ids, lv = ids[keep], lv[keep]
    p = np.exp((lv - lv[0]) / temperature)
    return dict(zip(ids.tolist(), (p / p.sum()).tolist()))


def _total_variation(a: dict, b: dict) -> float:
    return sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in a.keys() | b.keys()) / 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("chain", "wrong"),
    [
        ({"top_k": 40, "top_p": 0.6, "min_p": 0.01, "temperature": 1.5}, {"top_p": 1.0}),  # top_p cuts the tail
        ({"top_k": 40, "top_p": 0.8, "min_p": 0.01, "temperature": 0.3}, {"temperature": 1.0}),  # temperature sharpens
    ],
    ids=["top_p", "temperature"],
)
def test_the_first_token_follows_the_chains_distribution_on_both_paths(glm, chain, wrong):
    """150 seeded first tokens per path against the exact distribution of the chain over the prompt's
    logits; the same chain with `wrong` changed lies far outside the tolerance."""
    sampling = dict(chain, repeat_penalty=1.0)
    hello = [{"role": "user", "content": "Hello there"}]  # a prompt whose next token is far from certain
    tokens_of(glm, False, max_tokens=1, messages=hello, **sampling)  # leaves the logits of the prompt's last position
    n_vocab = glm._llama.llama_vocab_n_tokens(glm._vocab)

    def last_logits():
        return np.ctypeslib.as_array(glm._llama.llama_get_logits_ith(glm._ctx, -1), shape=(n_vocab,)).copy()

    logits = glm.on_compute_thread(last_logits)
    logits[glm.end_tokens()] = -np.inf  # the benchmark ban (ignore_eos), as in tokens_of
    expected = _chain_distribution(logits, **chain)
    assert 4 <= len(expected) <= 16 and max(expected.values()) < 0.8  # a spread the test can see
    tolerance = 0.17  # sampling noise at 150 runs: about 0.08
    assert _total_variation(expected, _chain_distribution(logits, **{**chain, **wrong})) > 2 * tolerance
    runs = 150
    for in_graph in (True, False):
        counts = collections.Counter()
        for seed in range(runs):
            generated, used_graph, _, _ = tokens_of(glm, in_graph, seed=seed, max_tokens=2, messages=hello, **sampling)
            assert used_graph == in_graph
            counts[generated[0]] += 1
        observed = {t: n / runs for t, n in counts.items()}
        assert _total_variation(expected, observed) <= tolerance, (in_graph, expected, observed)


@pytest.mark.slow
def test_a_grammar_falls_back_to_the_cpu_chain(glm):
    from tests.fixtures.tiny_glm import gbnf_literal

    _, in_graph, text, usage = tokens_of(glm, True, seed=3, max_tokens=64, grammar=f"root ::= {gbnf_literal('The sea is deep.')}")
    assert not in_graph
    assert text == "The sea is deep."
    assert usage.stop_reason == "stop"
    _, in_graph, _, _ = tokens_of(glm, True, seed=3, max_tokens=4)  # the next request is back in the graph
    assert in_graph


# ---- speculative verification on SmolLM2 ------------------------------------------------------------------


@pytest.mark.slow
def test_speculative_verification_samples_in_the_graph(smollm2_path, tmp_path_factory):
    """n-gram drafts verified with the chain in the graph: greedy identical to plain decoding on the CPU
    chain; seeded, the same tokens as plain decoding in the graph (the draws of rejected positions do
    not advance the generator: one draw off and the tokens after the first draft would differ). At
    temperature 1 a batched decode's logits, a rounding away from a single decode's, flip a sample
    now and then (on both paths alike, after 42-107 tokens here); at 0.7 and 64 tokens they did not."""
    from tests.engine.test_speculative import COPY_PROMPT

    eng = _load(smollm2_path, "on", tmp_path_factory, flash_attn=False)  # flash attention off: batched = single logits
    messages = [{"role": "user", "content": COPY_PROMPT}]
    try:
        eng.speculative = "off"
        plain, _, _, _ = tokens_of(eng, False, messages=messages, max_tokens=80, **GREEDY)
        eng.speculative = "ngram"
        spec, in_graph, _, usage = tokens_of(eng, True, messages=messages, max_tokens=80, **GREEDY)
        assert in_graph and usage.accepted_draft_tokens >= 20
        assert spec == plain
        seeded = {**GENERAL, "temperature": 0.7}
        accepted = 0
        for seed in (2, 3):
            eng.speculative = "off"
            plain, _, _, _ = tokens_of(eng, True, seed=seed, messages=messages, max_tokens=64, **seeded)
            eng.speculative = "ngram"
            spec, in_graph, _, usage = tokens_of(eng, True, seed=seed, messages=messages, max_tokens=64, **seeded)
            assert in_graph
            assert spec == plain, seed
            accepted += usage.accepted_draft_tokens
        assert accepted > 0
    finally:
        eng.close()
