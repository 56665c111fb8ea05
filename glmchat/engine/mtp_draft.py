"""MTP (multi-token prediction) drafting with GLM-4.7-Flash's NextN layer, for the speculative loop.

GLM-4.7-Flash's GGUFs can carry one extra block after the main ones (`blk.<n>.nextn.*`,
`deepseek2.nextn_predict_layers = 1`): a head trained to predict the token after next from the
model's last hidden state at position p and the token at p + 1. llama.cpp runs it in a second
context of type `LLAMA_CONTEXT_TYPE_MTP` over the same model (loaded with `load_mtp`; the MTP
context's KV cache holds only that block), as llama.cpp's own `common_speculative_impl_draft_mtp`
does. This module does the same from Python:

* the target context outputs its hidden state for every token it decodes
  (`llama_set_embeddings_nextn(ctx, true, masked=false)`; a staging API of llama.cpp exported only
  under its C++ name, declared here with ctypes);
* after each target decode `observe` queues the kept tokens, each paired with the hidden state of
  the token before it (`llama_batch_ext_set_embd_token` carries that state into the MTP graph);
* `draft(token, pos)` writes the queued tokens into the MTP context's KV cache and decodes `token`
  at `pos` in the same `llama_process` call; the argmax of its logits is the draft.

Acceptance is the speculative loop's (`glmchat.engine.speculative`): the target is sampled at every
position with the request's chain and compared with the draft, so the output distribution is the
non-speculative one. The draft's KV mirrors the target's by position and heals itself: before each
MTP decode, entries at or past the first queued position are removed, and a gap (a restored KV
snapshot, a request that ran without drafting) clears it; a missing hidden state reads as zeros.
Either only makes drafts worse, never output different.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

import numpy as np

from glmchat.engine.gguf_meta import nextn_layers

if TYPE_CHECKING:
    from glmchat.engine.gguf_meta import GgufInfo
    from glmchat.engine.local import LocalEngine

# llama.cpp's staging API (src/llama-ext.h): C++ linkage, so looked up by mangled name.
_SET_NEXTN = "_Z26llama_set_embeddings_nextnP13llama_contextbb"
_GET_NEXTN = "_Z26llama_get_embeddings_nextnP13llama_context"
_FLUSH_AT = 64  # queued tokens written to the MTP KV without waiting for the next draft


def _staging(lc: Any) -> tuple[Any, Any] | None:
    """(set_embeddings_nextn, get_embeddings_nextn) from the loaded libllama, None when missing."""
    lib = getattr(getattr(lc, "llama_cpp", None), "_lib", None)
    needed = ("llama_process", "llama_batch_ext_init", "llama_batch_ext_set_embd_token", "llama_model_n_layer_nextn")
    if lib is None or not all(hasattr(lc, name) for name in needed):
        return None
    try:
        set_fn, get_fn = getattr(lib, _SET_NEXTN), getattr(lib, _GET_NEXTN)
    except AttributeError:
        return None
    set_fn.argtypes, set_fn.restype = [ctypes.c_void_p, ctypes.c_bool, ctypes.c_bool], None
    get_fn.argtypes, get_fn.restype = [ctypes.c_void_p], ctypes.POINTER(ctypes.c_float)
    return set_fn, get_fn


def supported(lc: Any) -> bool:
    """Whether this llama-cpp-python exposes what MTP drafting needs."""
    return _staging(lc) is not None


def prepare_load(lc: Any, header: GgufInfo, mode: str, mparams: Any) -> str | None:
    """Before loading: set `mparams.load_mtp` when `mode` wants MTP and the file has a NextN layer;
    otherwise say why MTP will not run (None: it will, or the mode does not ask for it)."""
    if mode not in ("auto", "mtp"):
        return None
    n = nextn_layers(header)  # reads the other shards' headers of a split file: once
    if n == 0:
        return "this model file has no NextN (MTP) layer"
    if header.architecture != "deepseek2" or n != 1:
        return f"llama.cpp's MTP drafting here covers GLM-4.7-Flash's single NextN layer (this file: {header.architecture}, {n} layers)"
    if not supported(lc) or not hasattr(mparams, "load_mtp"):
        return "this llama-cpp-python cannot run MTP drafting (needs 0.3.36 or newer)"
    mparams.load_mtp = True
    return None


def expected(lc: Any, header: GgufInfo, mode: str) -> dict[str, Any]:
    """`describe` before loading (`glmchat doctor`): what a load of this file with `mode` would run."""
    from types import SimpleNamespace

    probe = SimpleNamespace(load_mtp=False)
    why = prepare_load(lc, header, mode, probe)
    return describe(mode, header, probe.load_mtp, why)


def describe(mode: str, header: GgufInfo, ready: bool, why: str | None) -> dict[str, Any]:
    """`info.details["speculative"]`: the mode, the drafter it runs (`ready`: the MTP context is up),
    the NextN layers, a one-line summary and a note when the mode does not run as named."""
    from glmchat.engine.speculative import mode_note, resolve_mode

    n = nextn_layers(header)
    runs = resolve_mode(mode, ready)
    layers = f"{n} NextN layer{'s' if n != 1 else ''}"
    line = (f"mtp + ngram ({layers})" if mode == "auto" else f"mtp ({layers})") if runs == "mtp" else runs  # auto: glmchat.engine.mixed_draft
    note = mode_note(mode, ready, why)
    if mode == "auto" and n > 0 and not ready and why:  # a NextN layer that cannot be used: say why
        note = f"speculative = \"auto\": MTP drafting with the NextN layer is off ({why}); drafting n-grams instead"
    return {"mode": mode, "runs": runs, "nextn_layers": n, "line": line, "note": note}


class MtpDrafter:
    """An MTP draft context beside a target context; one draft token per call."""

    def __init__(self, lc: Any, model: Any, ctx_tgt: Any, ctx_dft: Any, staging: tuple[Any, Any]) -> None:
        self.lc, self.ctx_tgt, self.ctx = lc, ctx_tgt, ctx_dft
        self._get_h = staging[1]
        self.n_embd = int(lc.llama_model_n_embd(model))
        self.n_vocab = int(lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model)))
        self.n_batch = int(lc.llama_n_batch(ctx_dft))
        self.mem = lc.llama_get_memory(ctx_dft)
        self.batch = lc.llama_batch_ext_init(ctx_dft)
        self.layers = int(lc.llama_model_n_layer_nextn(model))
        self._pos = (lc.llama_pos * 1)()
        self._zeros = np.zeros(self.n_embd, dtype=np.float32)
        self._queue: list[tuple[int, int, np.ndarray]] = []  # (token, position, hidden state of the token before)
        self._last_h = self._zeros  # the target's hidden state at position _last_pos
        self._last_pos = -1
        self._drafted: tuple[int, int] | None = None  # (position, token) the last draft wrote to the MTP KV

    @classmethod
    def attach(cls, lc: Any, model: Any, ctx_tgt: Any, cparams: Any) -> tuple[MtpDrafter | None, str | None]:
        """An MTP context over `model` (loaded with load_mtp) beside `ctx_tgt`, or (None, why not)."""
        staging = _staging(lc)
        if staging is None:
            return None, "this llama-cpp-python cannot run MTP drafting (needs 0.3.36 or newer)"
        params = type(cparams).from_buffer_copy(cparams)
        params.ctx_type = lc.LLAMA_CONTEXT_TYPE_MTP
        params.ctx_other = ctx_tgt
        params.n_ctx = int(lc.llama_n_ctx(ctx_tgt))
        ctx = lc.llama_init_from_model(model, params)
        if not ctx:
            return None, "llama.cpp could not create the MTP draft context (see its log)"
        staging[0](ctx_tgt, True, False)  # hidden state of every token the target decodes
        staging[0](ctx, True, True)
        # no warm-up decode here: decodes belong on the engine's compute thread (one OpenMP pool)
        return cls(lc, model, ctx_tgt, ctx, staging), None

    def forget(self) -> None:
        """Empty the MTP KV cache and the queue."""
        self.lc.llama_memory_clear(self.mem, True)
        self._queue.clear()
        self._last_h, self._last_pos, self._drafted = self._zeros, -1, None

    def observe(self, tokens: list[int], p0: int, n_kept: int) -> None:
        """The target just decoded `tokens` at p0..; the first `n_kept` stay in its cache."""
        if n_kept <= 0:
            return
        ptr = self._get_h(self.ctx_tgt)
        if not ptr:  # no hidden states came back: the next draft starts from zeros
            self._last_pos = -1
            return
        rows = np.empty((n_kept, self.n_embd), dtype=np.float32)  # a copy: the next decode overwrites them
        ctypes.memmove(rows.ctypes.data, ptr, rows.nbytes)
        prev = self._last_h if self._last_pos == p0 - 1 else self._zeros
        while self._queue and self._queue[-1][1] >= p0:  # rolled back since
            self._queue.pop()
        start = 0
        if self._drafted == (p0, tokens[0]):  # the draft already wrote it, with the same inputs
            start = 1
        for k in range(start, n_kept):
            self._queue.append((tokens[k], p0 + k, prev if k == 0 else rows[k - 1]))
        self._last_h, self._last_pos = rows[n_kept - 1], p0 + n_kept - 1
        self._drafted = None
        if len(self._queue) >= _FLUSH_AT:
            self._flush(None)

    def draft(self, token: int, pos: int) -> int | None:
        """The MTP head's guess for the token after `token` (which sits at `pos`); None on failure."""
        prev = self._last_h if self._last_pos == pos - 1 else self._zeros
        if not self._flush((token, pos, prev)):
            return None
        self._drafted = (pos, token)
        logits = np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.ctx, -1), shape=(self.n_vocab,))
        return int(logits.argmax())

    def _flush(self, last: tuple[int, int, np.ndarray] | None) -> bool:
        """Write the queue (and `last`, with logits) into the MTP KV cache, n_batch tokens per call."""
        items = self._queue + ([last] if last is not None else [])
        self._queue = []
        self._drafted = None
        if not items:
            return True
        self._align(items[0][1])
        lc, batch = self.lc, self.batch
        for i in range(0, len(items), self.n_batch):
            chunk = items[i : i + self.n_batch]
            lc.llama_batch_ext_clear(batch)
            for token, pos, h in chunk:
                idx = lc.llama_batch_ext_add_token(batch, 0, token)
                self._pos[0] = pos
                lc.llama_batch_ext_set_pos(batch, idx, self._pos)
                lc.llama_batch_ext_set_embd_token(batch, idx, lc.llama_embd(h.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), 1, self.n_embd))
            if last is not None and i + len(chunk) == len(items):
                lc.llama_batch_ext_set_output_logits(batch, len(chunk) - 1, True)
            if lc.llama_process(self.ctx, lc.LLAMA_PROCESS_TYPE_DECODE, batch) != 0:
                lc.llama_memory_clear(self.mem, True)
                return False
        return True

    def _align(self, first: int) -> None:
        """Make the MTP KV end right before position `first` (llama.cpp wants positions consecutive)."""
        lc = self.lc
        have = int(lc.llama_memory_seq_pos_max(self.mem, 0))
        if have >= first:
            if not lc.llama_memory_seq_rm(self.mem, 0, first, -1):
                lc.llama_memory_clear(self.mem, True)
        elif 0 <= have < first - 1:
            lc.llama_memory_clear(self.mem, True)

    def loop_args(self, engine: LocalEngine) -> tuple[Any, RequestDrafter]:
        """The speculative loop's control and drafter for one request: one token per draft (llama.cpp's
        published MTP figures are best at one), paused while drafts do not pay (`DraftControl`)."""
        from glmchat.engine.speculative import DraftControl

        return DraftControl(k_start=1, k_min=1, k_max=1, cold_match=0, warm_match=0), RequestDrafter(self, engine)

    def close(self) -> None:
        if self.batch is not None:
            self.lc.llama_batch_ext_free(self.batch)
            self.batch = None
        if self.ctx is not None:
            self.lc.llama_free(self.ctx)
            self.ctx = None


class RequestDrafter:
    """The speculative loop's drafter interface (as `NgramDrafter`) over an `MtpDrafter`."""

    def __init__(self, mtp: MtpDrafter, engine: LocalEngine) -> None:
        self.mtp, self.engine = mtp, engine
        self.last: int | None = None

    def append(self, token: int) -> None:
        self.last = token

    def propose(self, k: int, min_match: int = 0) -> list[int]:
        """One draft token after the last appended one (`k` > 0 asks for a draft at all)."""
        if k <= 0 or self.last is None:
            return []
        guess = self.mtp.draft(self.last, len(self.engine._cached))
        return [] if guess is None else [guess]

    def decoded(self, tokens: list[int], p0: int, n_kept: int) -> None:
        self.mtp.observe(tokens, p0, n_kept)
