"""The local engine's token loop: sample a token, emit its text, decode it, repeat.

`plain_loop` is the hot path without speculation: one `llama_sampler_sample` (in C, on the logits
of the last decode) and one single-token `llama_decode` per generated token, one reused
`llama_batch`, cached text pieces, no logits ever copied into Python. The speculative loop
(`glmchat.engine.speculative`) shares `Emitter` and `finish`.

Both loops keep the engine's bookkeeping: `engine._cached` holds exactly the tokens in the KV
cache; the last sampled token is never decoded (the next request re-reads it as part of its prompt).
Stops: an end-of-generation token ("stop"), max_tokens or a full context ("length", with
`engine.last_note` saying why), the cancel token (checked before every token: "cancelled"), or a
failed `llama_decode` ("error": the KV cache is reset and EngineError raised after Finished).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from glmchat.engine.base import CancelToken, Finished, RawText, SamplingParams, StreamItem, Usage
from glmchat.engine.utf8_stream import Utf8Stream
from glmchat.errors import EngineError

if TYPE_CHECKING:
    from glmchat.engine.local import LocalEngine


def decode_failure(engine: "LocalEngine", rc: int) -> tuple[str, EngineError | None]:
    """The stop reason (and error to raise) for a llama_decode that returned `rc` != 0."""
    if rc == 1:
        engine.last_note = "no room left in the KV cache"
        return "length", None
    engine.reset_cache()
    log = engine.info.details.get("log_path")
    return "error", EngineError(f"llama.cpp failed while generating (llama_decode returned {rc}).", f"See the llama.cpp log: {log}")


def finish(engine: "LocalEngine", utf8: Utf8Stream, usage: Usage, n_out: int, stop: str, t_last: float, t_gen: float,
           error: EngineError | None) -> Iterator[StreamItem]:
    """The text still held back, then Finished with the generation figures; raises `error` after."""
    rest = utf8.flush()
    if rest:
        yield RawText(rest)
    usage.completion_tokens = n_out
    usage.stop_reason = stop
    usage.note = engine.last_note
    usage.generation_time = t_last - t_gen if n_out else 0.0
    if usage.generation_time > 0:
        usage.generation_tokens_per_second = n_out / usage.generation_time
    yield Finished(usage)
    if error is not None:
        raise error


def plain_loop(
    engine: "LocalEngine", sampling: SamplingParams, sampler: Any, cancel: CancelToken | None, usage: Usage, t_start: float, t_gen: float
) -> Iterator[StreamItem]:
    """One sample and one single-token decode per generated token (see the module docstring)."""
    lc = engine._llama
    ctx, vocab, batch = engine._ctx, engine._vocab, engine._batch
    sample, is_eog, decode = lc.llama_sampler_sample, lc.llama_vocab_is_eog, lc.llama_decode
    tok_arr, pos_arr, nseq_arr, seq_arr, logit_arr = batch.token, batch.pos, batch.n_seq_id, batch.seq_id, batch.logits
    nseq_arr[0] = 1
    seq_arr[0][0] = 0
    logit_arr[0] = 1
    pieces, piece_of = engine._pieces, engine._piece
    stop_ids = engine._stop_ids
    cached = engine._cached
    n_ctx = engine._n_ctx
    max_tokens = sampling.max_tokens
    utf8 = Utf8Stream()
    n_out = 0
    t_last = t_gen
    stop = "stop"
    error: EngineError | None = None
    while True:
        if cancel is not None and cancel.cancelled:
            stop = "cancelled"
            break
        token = sample(sampler, ctx, -1)
        if token in stop_ids or is_eog(vocab, token):
            break
        n_out += 1
        piece = pieces.get(token)
        if piece is None:
            piece = piece_of(token)
        text = utf8.feed(piece)
        t_last = time.perf_counter()
        if n_out == 1:
            usage.time_to_first_token = t_last - t_start
        if text:
            yield RawText(text)
        if max_tokens is not None and n_out >= max_tokens:
            stop = "length"
            break
        if len(cached) >= n_ctx:
            stop = "length"
            engine.last_note = f"the context is full ({n_ctx:,} tokens)"
            break
        if cancel is not None and cancel.cancelled:
            stop = "cancelled"
            break
        batch.n_tokens = 1
        tok_arr[0] = token
        pos_arr[0] = len(cached)
        rc = decode(ctx, batch)
        if rc != 0:
            stop, error = decode_failure(engine, rc)
            break
        cached.append(token)
    yield from finish(engine, utf8, usage, n_out, stop, t_last, t_gen, error)


class Emitter:
    """Per-token bookkeeping shared by the loops that emit more than one token per decode.

    `take(token)`: None for an end-of-generation token (stop "stop"); else counts it and returns
    its text (may be "" while a UTF-8 character is incomplete). `should_stop()` after each emitted
    token: max_tokens, a full context or cancel set `stop` and return True.
    """

    def __init__(self, engine: "LocalEngine", sampling: SamplingParams, cancel: CancelToken | None, usage: Usage, t_start: float, t_gen: float):
        self.engine = engine
        self.vocab, self.is_eog = engine._vocab, engine._llama.llama_vocab_is_eog
        self.pieces, self.piece_of, self.stop_ids = engine._pieces, engine._piece, engine._stop_ids
        self.cancel, self.usage, self.t_start = cancel, usage, t_start
        self.max_tokens = sampling.max_tokens
        self.utf8 = Utf8Stream()
        self.n_out = 0
        self.t_last = t_gen
        self.stop = "stop"

    def take(self, token: int) -> str | None:
        if token in self.stop_ids or self.is_eog(self.vocab, token):
            return None
        self.n_out += 1
        piece = self.pieces.get(token)
        if piece is None:
            piece = self.piece_of(token)
        self.t_last = time.perf_counter()
        if self.n_out == 1:
            self.usage.time_to_first_token = self.t_last - self.t_start
        return self.utf8.feed(piece)

    def should_stop(self) -> bool:
        if self.max_tokens is not None and self.n_out >= self.max_tokens:
            self.stop = "length"
            return True
        engine = self.engine
        if len(engine._cached) >= engine._n_ctx:
            self.stop = "length"
            engine.last_note = f"the context is full ({engine._n_ctx:,} tokens)"
            return True
        return self.cancelled()

    def cancelled(self) -> bool:
        if self.cancel is not None and self.cancel.cancelled:
            self.stop = "cancelled"
            return True
        return False


def fill_batch(batch: Any, tokens: Sequence[int], start: int, every_logit: bool) -> None:
    """Put `tokens` at positions start.. of sequence 0 into a llama_batch; logits at every position
    (`every_logit`, a speculative draft's verification) or at none (the caller marks the last)."""
    batch.n_tokens = len(tokens)
    tok, pos, nseq, seq, logits = batch.token, batch.pos, batch.n_seq_id, batch.seq_id, batch.logits
    flag = 1 if every_logit else 0
    for i, t in enumerate(tokens):
        tok[i] = t
        pos[i] = start + i
        nseq[i] = 1
        seq[i][0] = 0
        logits[i] = flag
