"""N-gram (prompt-lookup) speculative decoding for the local engine.

Drafting: `NgramDrafter` indexes every n-gram (n = 2..4) of the prompt and the output so far; the
draft is what followed the most recent earlier occurrence of the longest suffix that occurred
before (code being edited, quoted text, a generation repeating itself). No model, no Python loop
over the history per token: one dict lookup per n.

Verification: the last sampled token and the draft go to llama.cpp in one batched `llama_decode`
with logits at every position. The target is then sampled at position 0, 1, ... with the request's
own sampler chain (`llama_sampler_sample(chain, ctx, i)`, which also accepts the token into the
chain) for as long as the sample equals the draft token at that position; the first sample that
differs is the next token. Every emitted token is therefore a sample of the target at its own
position with the same chain, in the same order, with one random draw each: the output
distribution is exactly the non-speculative one, and with the same seed the same tokens. One caveat:
llama.cpp's CPU flash-attention kernel rounds a batch of queries slightly differently from a single
query, so with flash attention on a near-tie between two tokens can go the other way (measured on
SmolLM2: "rstrip" vs "strip" after 59 tokens); with flash attention off, greedy output was token for
token identical in every test. The KV cache is rolled back past the first
mismatch (`llama_memory_seq_rm`), so `engine._cached` stays exact (prefix reuse, snapshots).

Control (`DraftControl`): nothing is drafted until a single-token decode has been timed, and only
after a 6-token match (3 once drafts have held). The draft length starts at 4, doubles after a
fully accepted draft (up to 16) and drops to one more than the accepted count (at least 4) after a
miss. Each draft is timed (its drafting, an MTP decode when MTP drafts, and the verifying decode): one that neither paid (took longer than that many single
decodes) nor kept 2 tokens is a miss; after 2 misses in a row drafting pauses for 32 tokens,
doubling each time (to 1024) until a draft pays again. Modes (`[model] speculative`,
`--speculative`): "off"; "ngram"; "mtp" (MTP drafts from the model's NextN layer when it is loaded,
`glmchat.engine.mtp_draft`, through the same loop; otherwise n-gram, and `mode_note` says why);
"auto" (with a NextN layer both, n-gram first: `glmchat.engine.mixed_draft`; otherwise n-gram). Grammar-constrained requests and recurrent/hybrid models (whose state cannot
be rolled back) always run without speculation.
"""

from __future__ import annotations

from array import array
from time import perf_counter
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from glmchat.engine.base import CancelToken, RawText, SamplingParams, StreamItem, Usage
from glmchat.engine.decode_loop import Emitter, decode_failure, fill_batch, finish
from glmchat.errors import EngineError, UsageError

if TYPE_CHECKING:
    from glmchat.engine.local import LocalEngine

MODES = ("auto", "off", "ngram", "mtp")


def check_mode(mode: str) -> str:
    """`mode` when it is one of MODES (UsageError otherwise)."""
    if mode not in MODES:
        raise UsageError(f"Unknown speculative mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
    return mode


def resolve_mode(mode: str, mtp_ready: bool = False) -> str:
    """The drafter a mode runs: "mtp" ("auto" or "mtp" on a model whose NextN layer is loaded,
    `glmchat.engine.mtp_draft`), "ngram" ("auto", "ngram", or "mtp" without one) or "off"."""
    if mode in ("auto", "mtp") and mtp_ready:
        return "mtp"
    return "off" if mode == "off" else "ngram"


def mode_note(mode: str, mtp_ready: bool = False, why: str | None = None) -> str | None:
    """What `glmchat doctor` and `bench` say about a mode that does not run as named."""
    if mode == "mtp" and not mtp_ready:
        return f"speculative = \"mtp\": {why or 'no model with a NextN (MTP) layer is loaded'}; drafting n-grams instead"
    return None


class NgramDrafter:
    """Proposes the tokens that followed the latest earlier occurrence of the longest matching suffix."""

    def __init__(self, tokens: Iterable[int] = (), *, min_n: int = 2, max_n: int = 4) -> None:
        self.min_n, self.max_n = min_n, max_n
        self.tokens: list[int] = []
        # n -> {n-gram: index of the token that followed its latest occurrence}
        self._index: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in range(min_n, max_n + 1)}
        # n -> for each index j, the entry the n-gram before j had before j replaced it (-1: none), so a
        # cut history gets its earlier occurrences back (`sync`)
        self._prev: dict[int, array[int]] = {n: array("q") for n in range(min_n, max_n + 1)}
        self.extend(tokens)

    def extend(self, tokens: Iterable[int]) -> None:
        for t in tokens:
            self.append(t)

    def append(self, token: int) -> None:
        hist = self.tokens
        j = len(hist)
        hist.append(token)
        for n, index in self._index.items():
            if j >= n:
                key = tuple(hist[j - n : j])
                self._prev[n].append(index.get(key, -1))
                index[key] = j
            else:
                self._prev[n].append(-1)

    def sync(self, tokens: Sequence[int]) -> "NgramDrafter":
        """Make the history `tokens`: cut it back to the part it shares with the current one and index
        only the rest (the next request of a conversation repeats the last one's prompt: a 200k-token
        history takes ~0.3 s to index from scratch, a sync of its next turn a few ms). Returns self."""
        hist = self.tokens
        keep = min(len(hist), len(tokens))
        if hist[:keep] != list(tokens[:keep]):
            keep = next(i for i, (a, b) in enumerate(zip(hist, tokens)) if a != b)
        self._cut(keep)
        self.extend(tokens[keep:])
        return self

    def _cut(self, keep: int) -> None:
        """Drop the history from `keep` on, each index entry it set going back to the one it replaced."""
        hist = self.tokens
        for j in range(len(hist) - 1, keep - 1, -1):
            for n, index in self._index.items():
                if j >= n:
                    key = tuple(hist[j - n : j])
                    if index.get(key) == j:
                        prev = self._prev[n][j]
                        if prev < 0:
                            del index[key]
                        else:
                            index[key] = prev
        del hist[keep:]
        for prevs in self._prev.values():
            del prevs[keep:]

    def propose(self, k: int, min_match: int = 0) -> list[int]:
        """Up to `k` draft tokens; [] when no suffix of length min_n..max_n occurred before, or when
        the latest occurrence of the longest one matches fewer than `min_match` tokens back."""
        hist = self.tokens
        if k <= 0:
            return []
        for n in range(self.max_n, self.min_n - 1, -1):
            if len(hist) < n:
                continue
            at = self._index[n].get(tuple(hist[-n:]))
            if at is None:
                continue
            if min_match > n and self._match_length(at, n, min_match) < min_match:
                return []
            return hist[at : at + k]
        return []

    def decoded(self, tokens: list[int], p0: int, n_kept: int) -> None:
        """The target decoded `tokens` at p0..; nothing to do (an MTP drafter reads its hidden states)."""

    def _match_length(self, at: int, n: int, cap: int) -> int:
        """How many tokens before `at` equal the ones before the end (at least n, at most cap)."""
        hist = self.tokens
        length, i, j = n, at - n - 1, len(hist) - n - 1
        while length < cap and i >= 0 and hist[i] == hist[j]:
            length, i, j = length + 1, i - 1, j - 1
        return length


class DraftControl:
    """Adapts the draft length to the acceptance rate and pauses drafting while it does not pay.

    Paying is measured, not assumed: `observe` gets every decode's wall time. A single-token decode
    updates `t_one` (moving average); a draft paid when its decode took less than `t_one` times the
    tokens it produced. (On a CPU a batch of 2 costs about 2 single decodes and each further token
    about 0.4 of one; on a GPU a batch of 16 costs barely more than one — the same rule serves both.)
    """

    def __init__(self, *, k_start: int = 4, k_min: int = 4, k_max: int = 16, cold_match: int = 6, warm_match: int = 3, patience: int = 2,
                 pause: int = 32, max_pause: int = 1024) -> None:
        self.k, self.k_start, self.k_min, self.k_max = k_start, k_start, k_min, k_max
        # draft only after this many tokens match the earlier occurrence: many at first (free text
        # has short chance matches), few once drafts hold (a copy resumes right after a changed token)
        self.cold_match, self.warm_match = cold_match, warm_match
        self.min_match = cold_match
        self.patience, self.base_pause, self.max_pause = patience, pause, max_pause
        self.next_pause = pause
        self.paused_for = 0
        self.misses = 0
        self.t_one = 0.0  # seconds per single-token decode (0: not measured yet)
        self.drafted = 0  # tokens drafted, all drafts together
        self.accepted = 0  # of those, accepted

    def length(self, room: int) -> int:
        """The draft length to ask for now (0: do not draft this token)."""
        if self.paused_for > 0:
            self.paused_for -= 1
            return 0
        if self.t_one <= 0.0:  # measure a plain decode first
            return 0
        return max(0, min(self.k, room))

    def observe(self, seconds: float, drafted: int, accepted: int) -> None:
        """One decode of 1 + `drafted` tokens took `seconds`; `accepted` of the drafted tokens were kept."""
        if drafted <= 0:
            self.t_one = seconds if self.t_one <= 0.0 else 0.9 * self.t_one + 0.1 * seconds
            return
        self.drafted += drafted
        self.accepted += accepted
        if accepted == drafted:
            self.k = min(self.k_max, self.k * 2)
        else:
            self.k = max(self.k_min, min(self.k, accepted + 1))
        if accepted >= 2 or seconds < self.t_one * (accepted + 1):  # paid, or a region where drafts partly hold
            self.min_match = self.warm_match
            self.misses = 0
            self.next_pause = self.base_pause
            return
        self.misses += 1
        self.min_match = self.cold_match
        if self.misses >= self.patience:
            self.paused_for = self.next_pause
            self.next_pause = min(self.max_pause, self.next_pause * 2)
            self.misses = 0
            self.k = self.k_start


def speculative_loop(
    engine: "LocalEngine", sampling: SamplingParams, sampler: Any, cancel: CancelToken | None, usage: Usage,
    t_start: float, t_gen: float, drafter: Any, control: DraftControl | None = None,
) -> Iterator[StreamItem]:
    """Generate like `glmchat.engine.decode_loop.plain_loop`, verifying `drafter`'s drafts in batches
    (an `NgramDrafter` synced to the prompt, `glmchat.engine.mtp_draft.RequestDrafter` or
    `glmchat.engine.mixed_draft.MixedDrafter`; `control`: a fresh DraftControl unless given)."""
    out = Emitter(engine, sampling, cancel, usage, t_start, t_gen)
    run = _Run(engine, out, sampler, drafter, control or DraftControl())
    token = None if out.cancelled() else engine._llama.llama_sampler_sample(sampler, engine._ctx, -1)
    while token is not None:
        token = yield from run.step(token)
    usage.draft_tokens, usage.accepted_draft_tokens = run.control.drafted, run.control.accepted
    yield from finish(engine, out.utf8, usage, out.n_out, out.stop, out.t_last, t_gen, run.error)


class _Run:
    """One speculative generation: `step(token)` emits `token` and what a draft after it verifies."""

    def __init__(self, engine: "LocalEngine", out: Emitter, sampler: Any, drafter: NgramDrafter, control: DraftControl) -> None:
        self.engine, self.out, self.sampler, self.drafter, self.control = engine, out, sampler, drafter, control
        self.lc = engine._llama
        self.error: EngineError | None = None

    def step(self, token: int) -> Iterator[StreamItem]:
        """Emit `token`, decode it with a draft, emit the accepted part; returns the next token (None: stop)."""
        out, engine = self.out, self.engine
        text = out.take(token)
        if text is None:
            return None
        if text:
            yield RawText(text)
        if out.should_stop():
            return None
        self.drafter.append(token)
        cached = engine._cached
        p0 = len(cached)
        k = self.control.length(min(engine._n_ctx - p0 - 1, engine._n_batch - 1))
        t0 = perf_counter()  # a draft's cost counts (an MTP draft is a decode of its own)
        draft = self.drafter.propose(k, self.control.min_match) if k > 0 else []
        fill_batch(engine._batch, [token, *draft], p0, every_logit=True)
        rc = self.lc.llama_decode(engine._ctx, engine._batch)
        seconds = perf_counter() - t0
        if rc != 0:
            out.stop, self.error = decode_failure(engine, rc)
            return None
        cached.append(token)
        nxt, n_ok = yield from self._verify(draft)
        self.drafter.decoded([token, *draft], p0, len(cached) - p0)
        self.control.observe(seconds, len(draft), n_ok)
        if len(cached) < p0 + 1 + len(draft) and not self.lc.llama_memory_seq_rm(engine._mem, 0, len(cached), -1):
            engine.reset_cache()
            out.stop = "error"
            self.error = EngineError("llama.cpp could not roll back a speculative draft.", "Run with --speculative off and report this.")
            return None
        return nxt

    def _verify(self, draft: list[int]) -> Iterator[StreamItem]:
        """Sample position 0, 1, ... while the samples equal the draft; returns (next token or None, accepted)."""
        sample, sampler, ctx = self.lc.llama_sampler_sample, self.sampler, self.engine._ctx
        out, cached, drafter = self.out, self.engine._cached, self.drafter
        n_ok = 0
        nxt = sample(sampler, ctx, 0)
        while n_ok < len(draft) and nxt == draft[n_ok]:
            n_ok += 1
            text = out.take(nxt)
            if text is None:
                return None, n_ok
            if text:
                yield RawText(text)
            if out.should_stop():
                return None, n_ok
            cached.append(nxt)
            drafter.append(nxt)
            nxt = sample(sampler, ctx, n_ok)
        return nxt, n_ok
