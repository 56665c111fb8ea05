"""N-gram speculative decoding: the drafter and its control without a model; on SmolLM2, output
identical to plain decoding (greedy token for token, sampling in distribution), cancel, KV rollback."""

from __future__ import annotations

import collections

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Finished, RawText, SamplingParams
from glmchat.engine.speculative import DraftControl, NgramDrafter, check_mode, mode_note, resolve_mode
from glmchat.errors import UsageError
from glmchat.speculative_bench import COPY_PROMPT, FREE_PROMPT  # the one home of the two tasks
from tests.engine.speculation_support import GREEDY, exact_engine, generate, user


# ---- the drafter and its control (no model) ------------------------------------------------------


def test_drafter_continues_the_latest_longest_match():
    d = NgramDrafter([1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 1, 2, 3])
    # suffix (1, 2, 3) occurred at the start, followed by 4 5 9; (2, 3) alone most recently by 7 8
    assert d.propose(3) == [4, 5, 9]
    assert d.propose(1) == [4]
    d.append(7)  # suffix (2, 3, 7) continues with 8 1
    assert d.propose(2) == [8, 1]


def test_drafter_without_a_match_or_length_proposes_nothing():
    d = NgramDrafter([5, 6, 7, 8])
    assert d.propose(4) == []
    d.append(5)  # a single token (n=1) is too short to draft from
    assert d.propose(4) == []
    d.append(6)
    assert d.propose(4) == [7, 8, 5, 6]
    assert d.propose(0) == []


def test_drafter_never_matches_the_suffix_with_itself():
    d = NgramDrafter([3, 3])
    assert d.propose(2) == []  # (3, 3) has occurred only as the suffix
    d.append(3)
    assert d.propose(2) == [3]  # (3, 3) at 0..1 was followed by 3


def test_drafter_can_ask_for_a_longer_match_before_drafting():
    d = NgramDrafter([9, 1, 2, 3, 4, 5, 6, 8, 1, 2, 3, 4])
    assert d.propose(2, min_match=4) == [5, 6]  # 1 2 3 4 matches 4 tokens back
    assert d.propose(2, min_match=5) == []  # the token before differs (9 vs 8)
    d = NgramDrafter([7, 1, 2, 3, 4, 5, 7, 1, 2, 3, 4])
    assert d.propose(2, min_match=5) == [5, 7]


def test_control_asks_for_long_matches_until_drafts_hold():
    c = DraftControl(cold_match=6, warm_match=3)
    c.observe(0.010, 0, 0)
    assert c.min_match == 6
    c.observe(0.020, 4, 4)
    assert c.min_match == 3
    c.observe(0.050, 4, 0)  # a miss: back to long matches
    assert c.min_match == 6


def test_control_measures_before_drafting_then_grows_and_shrinks():
    c = DraftControl(k_start=4, k_min=2, k_max=16)
    assert c.length(room=100) == 0  # no single-token decode timed yet
    c.observe(0.010, 0, 0)
    assert c.length(room=100) == 4 and c.length(room=3) == 3
    c.observe(0.020, 4, 4)  # all accepted, paid (5 tokens in 2 decodes' time)
    assert c.length(room=100) == 8
    c.observe(0.030, 8, 5)  # paid, but a miss: back to accepted + 1
    assert c.length(room=100) == 6
    c.observe(0.030, 6, 0)  # nothing accepted: down to k_min
    assert c.length(room=100) == 2
    assert (c.drafted, c.accepted) == (18, 9)


def test_control_pauses_while_drafts_do_not_pay_and_pauses_longer_each_time():
    c = DraftControl(patience=2, pause=5, max_pause=20)
    c.observe(0.010, 0, 0)
    c.observe(0.030, 8, 1)  # 2 tokens for 3 decodes' time: did not pay
    assert c.length(room=100) > 0
    c.observe(0.030, 8, 1)
    assert [c.length(room=100) for _ in range(5)] == [0] * 5
    assert c.length(room=100) > 0
    c.observe(0.030, 8, 0)
    c.observe(0.030, 8, 0)
    assert [c.length(room=100) for _ in range(10)] == [0] * 10  # twice as long
    c.observe(0.030, 8, 8)  # paid: the next pause is short again
    assert c.next_pause == 5


def test_modes():
    # without a loaded NextN layer "mtp" drafts n-grams (tests/engine/test_mtp_draft.py has the rest)
    assert [resolve_mode(m) for m in ("auto", "ngram", "off", "mtp")] == ["ngram", "ngram", "off", "ngram"]
    assert mode_note("mtp") and "n-grams instead" in mode_note("mtp")
    assert mode_note("auto") is None
    assert check_mode("ngram") == "ngram"
    with pytest.raises(UsageError):
        check_mode("fast")


# ---- on SmolLM2 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(smollm2_path, tmp_path_factory):
    eng = exact_engine(smollm2_path, tmp_path_factory.mktemp("engine-data"), n_ctx=4096)
    yield eng
    eng.close()


@pytest.mark.slow
@pytest.mark.parametrize("prompt", [COPY_PROMPT, FREE_PROMPT], ids=["copy", "free"])
def test_greedy_output_is_identical_with_and_without_speculation(engine, prompt):
    plain, u_plain = generate(engine, "off", user(prompt), max_tokens=160, **GREEDY)
    cached_plain = engine.cached_tokens
    spec, u_spec = generate(engine, "ngram", user(prompt), max_tokens=160, **GREEDY)
    assert spec == plain
    assert u_spec.completion_tokens == u_plain.completion_tokens
    assert engine.cached_tokens == cached_plain  # the KV bookkeeping ends where plain decoding ends
    assert_kv_matches_bookkeeping(engine, u_spec)
    assert u_plain.draft_tokens == 0
    if prompt is COPY_PROMPT:
        assert u_spec.accepted_draft_tokens >= 40, (u_spec.draft_tokens, u_spec.accepted_draft_tokens)


@pytest.mark.slow
def test_next_turn_after_speculation_reuses_a_correct_kv_cache(engine):
    """Turn 2 reuses the KV cache turn 1 left. After a speculative turn 1 (drafts rolled back) its
    next-token logits are as close to a fresh evaluation as after a plain turn 1: KV computed in a
    batch rounds differently from KV computed token by token (~0.5 on SmolLM2's logits, either way),
    a stale draft left in the cache would be far off."""
    import numpy as np

    def next_logits(first_mode: str | None, turn) -> np.ndarray:
        _, usage = generate(engine, "off", turn, fresh=first_mode is None, max_tokens=1, **GREEDY)
        assert first_mode is None or usage.cached_prompt_tokens > 100
        n_vocab = engine._llama.llama_vocab_n_tokens(engine._vocab)
        return np.ctypeslib.as_array(engine._llama.llama_get_logits_ith(engine._ctx, -1), shape=(n_vocab,)).copy()

    firsts, logits = {}, {}
    for mode in ("off", "ngram"):
        firsts[mode], _ = generate(engine, mode, user(COPY_PROMPT), max_tokens=80, **GREEDY)
        turn = user(COPY_PROMPT) + [{"role": "assistant", "content": firsts[mode]}, {"role": "user", "content": "Now the first line only."}]
        logits[mode] = next_logits(mode, turn)
    assert firsts["off"] == firsts["ngram"]
    fresh = next_logits(None, turn)
    plain_error = float(np.abs(logits["off"] - fresh).max())
    assert float(np.abs(logits["ngram"] - fresh).max()) <= max(1.0, 2 * plain_error)


@pytest.mark.slow
def test_cancel_stops_within_one_token(engine):
    """Consumed on the engine's thread, so no queue lies between the pieces and the cancel: after the
    cancel no further piece comes, even in the middle of an accepted draft."""
    engine.speculative = "ngram"
    engine.reset_cache()
    cancel = CancelToken()
    request = ChatRequest(messages=user(COPY_PROMPT), sampling=SamplingParams(max_tokens=200, **GREEDY))

    def consume():
        pieces, after, usage = [], 0, None
        for item in engine._generate(request, cancel):
            if isinstance(item, RawText):
                after += cancel.cancelled
                pieces.append(item.text)
                if len(pieces) == 40:
                    cancel.cancel()
            elif isinstance(item, Finished):
                usage = item.usage
        return "".join(pieces), after, usage

    text, after, usage = engine.on_compute_thread(consume)
    assert usage.stop_reason == "cancelled"
    assert after == 0 and usage.completion_tokens <= 41
    assert usage.accepted_draft_tokens > 0  # it was cancelled while drafting
    assert_kv_matches_bookkeeping(engine, usage)  # the draft in flight was rolled back
    plain, _ = generate(engine, "off", user(COPY_PROMPT), max_tokens=200, **GREEDY)
    assert plain.startswith(text)


def assert_kv_matches_bookkeeping(engine, usage) -> None:
    """The KV cache holds exactly `cached_tokens`: the prompt and every emitted token but the last."""
    cached = engine.cached_tokens
    assert len(cached) == usage.prompt_tokens + usage.completion_tokens - 1
    assert engine._llama.llama_memory_seq_pos_max(engine._mem, 0) == len(cached) - 1


@pytest.mark.slow
def test_seeded_sampling_keeps_the_distribution(engine):
    """Temperature 1: token frequencies at each position over many seeds match plain decoding's."""
    runs, n_tokens = 16, 12
    sampling = dict(temperature=1.0, top_k=40, top_p=0.95, min_p=0.0, max_tokens=n_tokens)
    counts = {mode: [collections.Counter() for _ in range(n_tokens)] for mode in ("off", "ngram")}
    drafted = 0
    for seed in range(runs):
        for mode in ("off", "ngram"):
            engine.speculative = mode
            engine.reset_cache()
            request = ChatRequest(messages=user(COPY_PROMPT), sampling=SamplingParams(seed=seed, **sampling))
            tokens = []
            for item in engine.stream(request):
                if isinstance(item, RawText):
                    tokens.append(item.text)
                elif isinstance(item, Finished) and mode == "ngram":
                    drafted += item.usage.draft_tokens
            for pos, piece in enumerate(tokens[:n_tokens]):
                counts[mode][pos][piece] += 1
    assert drafted > 0  # the speculative path ran
    for pos in range(n_tokens):
        a, b = counts["off"][pos], counts["ngram"][pos]
        total_variation = sum(abs(a[k] - b[k]) for k in a.keys() | b.keys()) / (2 * runs)
        assert total_variation <= 0.2, (pos, a, b)


def test_sync_indexes_only_what_is_new_and_drafts_as_a_fresh_index_would():
    import random

    rng = random.Random(7)
    for _ in range(300):
        shared = [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        old = shared + [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        new = shared + [rng.randrange(4) for _ in range(rng.randrange(0, 30))]
        d, fresh = NgramDrafter(old).sync(new), NgramDrafter(new)
        assert d.tokens == new
        assert d._index == fresh._index  # a cut history gets its earlier occurrences back
        assert [d.propose(k) for k in (1, 3, 8)] == [fresh.propose(k) for k in (1, 3, 8)]
