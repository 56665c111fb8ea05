"""The embedded engine: llama.cpp in this process, driven through llama-cpp-python's low-level API.

Why low level: the high-level `Llama.create_completion` does per-token Python work (logits copies,
stop-string scans, its own bookkeeping) and measured 105-125 tok/s on SmolLM2 where a lean loop over
`llama_decode` + `llama_sampler_sample` reaches ~155-160 (llama-bench: 159). The loop here makes one
`llama_decode` per generated token, reuses one `llama_batch`, never copies logits into Python and
caches each token's text piece (the loop: `glmchat.engine.decode_loop`; with `speculative` set,
n-gram drafts verified in batches: `glmchat.engine.speculative`).

Sampler chain: built in C for every request (grammar, repeat penalty, top_k, top_p, min_p,
temperature, dist(seed)); see `glmchat.engine.sampler`. Load parameters: `glmchat.engine.llama_params`.

KV-cache prefix reuse: the engine remembers the tokens in its KV cache. A new request keeps the
longest common prefix, removes the rest (`llama_memory_seq_rm`) and evaluates only the new tokens
(at least one, so fresh logits exist). Multi-turn chat therefore re-reads only the new turn.

Context: `n_ctx` larger than the model's trained context is clamped to it, with a note in
`info.details["notes"]`; `n_ctx <= 0` means the trained context. A prompt that does not fit raises
`EngineError`; generation that fills the context stops with stop_reason "length" (`Usage.note`, also kept in
`last_note`, says why).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Generator, Iterator, Sequence, TypeVar

from glmchat.engine.backend_sampling import BackendSampling
from glmchat.engine.backend_sampling import check_mode as check_sampling_mode
from glmchat.engine.backend_sampling import prepare_context as prepare_sampling_context
from glmchat.engine.base import CancelToken, ChatRequest, EngineInfo, Finished, PromptProgress, SamplingParams, Started, StreamItem, Usage
from glmchat.engine.compute_thread import ComputeThread, EitherCancel
from glmchat.engine.decode_loop import fill_batch, plain_loop
from glmchat.engine.mixed_draft import mixed
from glmchat.engine.devices import physical_cores
from glmchat.engine.kv_state import load_sequence, save_sequence
from glmchat.engine.llama_params import backend_name, check_load_args, choose_offload, choose_threads, context_params, fit_context, model_params
from glmchat.engine.sampler import build_sampler_chain, logit_ban_sampler
from glmchat.engine.speculative import NgramDrafter, check_mode, resolve_mode, speculative_loop
from glmchat.engine.utf8_stream import Utf8Stream
from glmchat.errors import EngineError, ModelError
from glmchat.glm.template import GLM_END_TOKENS, is_glm_template, prompt_opens_thinking, render_prompt

__all__ = ["LocalEngine", "Utf8Stream", "physical_cores", "render_chat"]


def render_chat(template: str, request: ChatRequest, *, bos_token: str = "", eos_token: str = "") -> str:
    """Render `request` with the GGUF's chat template (Hugging Face Jinja semantics, glmchat.glm)."""
    return render_prompt(
        template,
        request.messages,
        tools=request.tools,
        enable_thinking=request.enable_thinking,
        clear_thinking=request.clear_thinking,
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
    )


T = TypeVar("T")


class LocalEngine:
    """llama.cpp in this process. Create with `LocalEngine.load(path, ...)`; one generation at a time."""

    continues_prefix = True  # ChatRequest.assistant_prefix is appended to the rendered prompt

    def __init__(self) -> None:  # use load()
        self.info = EngineInfo(model="")
        self.last_note: str | None = None  # why the last generation stopped, when not obvious
        self._model: Any = None
        self._ctx: Any = None
        self._vocab: Any = None
        self._mem: Any = None
        self._batch: Any = None
        self._n_batch = 512
        self._n_ctx = 0
        self._cached: list[int] = []  # tokens currently in the KV cache (sequence 0), in order
        self._pieces: dict[int, bytes] = {}
        self._stop_ids: set[int] = set()
        self._eog_ids: list[int] | None = None
        self._bos_text = ""
        self._eos_text = ""
        self._add_bos = False
        self._lock = threading.Lock()
        self._keepalive: list[Any] = []  # ctypes objects llama.cpp may still point to
        self._llama: Any = None
        self._compute: ComputeThread | None = None  # runs every decode (see glmchat.engine.compute_thread)
        self.speculative = "off"  # auto | off | ngram | mtp (glmchat.engine.speculative)
        self.sampling = BackendSampling(None, "off")  # where sampling runs (glmchat.engine.backend_sampling)
        self._mtp: Any = None  # the MTP draft context, when the model's NextN layer runs (glmchat.engine.mtp_draft)
        self._ngram = NgramDrafter()  # the n-gram index of the last request's tokens, extended by the next

    # ---- loading -----------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 16384,
        n_threads: int | None = None,
        n_batch: int = 512,
        n_gpu_layers: int | None = None,
        flash_attn: bool | None = None,
        kv_cache_type: str = "f16",
        verbose: bool = False,
        progress: Callable[[float], Any] | None = None,
        tensor_overrides: Sequence[tuple[str, str]] | None = None,
        speculative: str = "off",
        backend_sampling: str = "auto",
    ) -> "LocalEngine":
        """Load a GGUF. Raises ModelError (bad file, too little memory, llama.cpp refused) or UsageError."""
        from glmchat.engine import devices, gguf_check, llama_log, mtp_draft

        check_load_args(kv_cache_type, n_threads, n_batch)
        check_mode(speculative)
        check_sampling_mode(backend_sampling)
        model_path = gguf_check.check_model_file(path)
        header = gguf_check.read_header(model_path)

        import llama_cpp

        log_path = llama_log.install(verbose=verbose)
        llama_cpp.llama_backend_init()

        notes: list[str] = []
        n_ctx = fit_context(n_ctx, header.context_length, notes)
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        gpus = devices.detect().gpus if gpu else []
        vram = sum(d.total for d in gpus)
        mem = gguf_check.check_memory(model_path, n_ctx, kv_cache_type=kv_cache_type, vram_bytes=vram, header=header)
        n_gpu_layers, flash_attn = choose_offload(gpu, n_gpu_layers, flash_attn, kv_cache_type, notes)
        on_gpu = gpu and n_gpu_layers != 0
        threads = choose_threads(n_threads, notes)

        self = cls()
        self._llama = llama_cpp
        self.speculative = speculative
        mparams = model_params(llama_cpp, n_gpu_layers, progress, tensor_overrides, self._keepalive)
        mtp_why = mtp_draft.prepare_load(llama_cpp, header, speculative, mparams)  # sets load_mtp when MTP can run
        cparams = context_params(llama_cpp, n_ctx=n_ctx, n_batch=n_batch, threads=threads, flash_attn=flash_attn, kv_cache_type=kv_cache_type)
        prepare_sampling_context(cparams, backend_sampling)
        t0 = time.perf_counter()
        self._open(model_path, mparams, cparams, log_path)
        load_time = time.perf_counter() - t0
        self._bind_context(n_batch)
        if getattr(mparams, "load_mtp", False):
            self._mtp, mtp_why = mtp_draft.MtpDrafter.attach(llama_cpp, self._model, self._ctx, cparams)

        n_layers = int(llama_cpp.llama_model_n_layer(self._model))
        output_on_gpu = on_gpu and (n_gpu_layers < 0 or n_gpu_layers > n_layers)
        self.sampling = BackendSampling(llama_cpp, backend_sampling, output_on_gpu=output_on_gpu)
        details = {
            "architecture": self.meta("general.architecture"),
            "threads": threads,
            "n_batch": self._n_batch,
            "n_gpu_layers": n_gpu_layers,
            "flash_attn": bool(flash_attn),
            "kv_cache_type": kv_cache_type,
            "kv_cache_bytes": mem.kv_bytes,
            "file_bytes": mem.file_bytes,
            "load_time": load_time,
            "log_path": str(log_path),
            "tensor_overrides": list(tensor_overrides or []),
            "notes": notes,
            "speculative": mtp_draft.describe(speculative, header, self._mtp is not None, mtp_why),
        }
        self.info = self._describe(model_path, Path(path), backend_name(on_gpu, gpus), 1 if output_on_gpu and not tensor_overrides else threads, details)
        self._compute = ComputeThread()
        self._compute.call(self._warm_up)
        self.info.details["sampling"] = self._compute.call(self._probe_sampling).text()
        self._stop_ids = self._glm_stop_ids(self.info.chat_template)
        self.info.details["extra_stop_tokens"] = sorted(self._stop_ids)
        self._probe_thinking(notes)
        return self

    def _open(self, model_path: Path, mparams: Any, cparams: Any, log_path: Any) -> None:
        """Load the model and create its context (ModelError when llama.cpp refuses either)."""
        lc = self._llama
        model = lc.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not model:
            raise ModelError(f"llama.cpp could not load {model_path}.", f"See the llama.cpp log: {log_path}")
        self._model = model
        ctx = lc.llama_init_from_model(model, cparams)
        if not ctx:
            lc.llama_model_free(model)
            self._model = None
            raise ModelError(
                f"llama.cpp could not create a {cparams.n_ctx:,}-token context for {model_path.name}.",
                f"Try a smaller --ctx; details in the llama.cpp log: {log_path}",
            )
        self._ctx = ctx

    def _bind_context(self, n_batch: int) -> None:
        """Read the vocab, memory, context size and BOS/EOS of the opened model; allocate the batch."""
        lc = self._llama
        self._vocab = lc.llama_model_get_vocab(self._model)
        self._mem = lc.llama_get_memory(self._ctx)
        self._n_ctx = int(lc.llama_n_ctx(self._ctx))
        self._n_batch = min(n_batch, int(lc.llama_n_batch(self._ctx)))  # llama.cpp caps n_batch at n_ctx
        self._batch = lc.llama_batch_init(self._n_batch, 0, 1)
        self._add_bos = bool(lc.llama_vocab_get_add_bos(self._vocab))
        self._bos_text = self._token_text(lc.llama_vocab_bos(self._vocab))
        self._eos_text = self._token_text(lc.llama_vocab_eos(self._vocab))

    def _describe(self, model_path: Path, given: Path, backend: str, cpu_threads: int, details: dict[str, Any]) -> EngineInfo:
        """`given` is the path as named (a downloaded quant's snapshot link): it names the model and its quant."""
        from glmchat.engine.model_name import local_model_name
        from glmchat.hub.quant_names import quant_from_filename

        names = {k: self.meta(k) for k in ("general.name", "general.basename", "general.size_label")}
        return EngineInfo(
            model=local_model_name(given, names), path=str(model_path), quant=quant_from_filename(given),
            backend=backend, where="local", cpu_threads=cpu_threads, n_ctx=self._n_ctx,
            n_ctx_train=int(self._llama.llama_model_n_ctx_train(self._model)),
            chat_template=self.meta("tokenizer.chat_template"), details=details,
        )

    def _probe_thinking(self, notes: list[str]) -> None:
        """info.thinking: whether the chat template opens a reasoning block in the generation prompt."""
        if not self.info.chat_template:
            return
        try:
            probe = ChatRequest(messages=[{"role": "user", "content": "hi"}], enable_thinking=True)
            self.info.thinking = prompt_opens_thinking(self.render(probe))
        except Exception as exc:  # noqa: BLE001 - a template that cannot render shows up on first use
            notes.append(f"chat template did not render: {exc}")

    def _warm_up(self) -> None:
        """One throw-away decode so the first real request does not pay for graph allocation."""
        lc = self._llama
        bos = lc.llama_vocab_bos(self._vocab)
        token = bos if bos >= 0 else 0
        t0 = time.perf_counter()
        self._decode([token], 0, logits_last=True)
        lc.llama_memory_clear(self._mem, True)
        self._cached = []
        self.info.details["warmup_time"] = time.perf_counter() - t0

    def _probe_sampling(self) -> Any:
        """Whether llama.cpp samples in the graph here (glmchat.engine.backend_sampling); the KV cache left empty."""
        lc = self._llama
        bos = lc.llama_vocab_bos(self._vocab)
        try:
            return self.sampling.probe(self._ctx, self.build_sampler, lambda: self._decode([bos if bos >= 0 else 0], 0, logits_last=True),
                                       int(lc.llama_vocab_n_tokens(self._vocab)))
        finally:
            lc.llama_memory_clear(self._mem, True)
            self._cached = []

    def _glm_stop_ids(self, template: str | None) -> set[int]:
        """GLM's end tokens that this GGUF does not already mark as end-of-generation."""
        if not is_glm_template(template):
            return set()
        extra: set[int] = set()
        for text in GLM_END_TOKENS:
            ids = self.tokenize(text, add_special=False)
            if len(ids) == 1 and not self._llama.llama_vocab_is_eog(self._vocab, ids[0]):
                extra.add(ids[0])
        return extra

    # ---- small helpers -----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as a string (None when absent)."""
        self._require_open()
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._llama.llama_model_meta_val_str(self._model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.raw[:n].decode("utf-8", errors="replace")
            size = n + 1

    def _token_text(self, token: int) -> str:
        if token is None or token < 0:
            return ""
        text = self._llama.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", errors="replace") if text else ""

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = self._llama.llama_token_to_piece(self._vocab, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = self._llama.llama_token_to_piece(self._vocab, token, buf, -n, 0, True)
            piece = buf.raw[: max(0, n)]
            self._pieces[token] = piece
        return piece

    def _require_open(self) -> None:
        if self._model is None or self._ctx is None:
            raise EngineError("The local engine is closed.", "Load the model again.")

    def tokenize(self, text: str, *, add_special: bool | None = None) -> list[int]:
        """Token ids of `text`; special tokens written as text become single tokens.

        `add_special=None`: add BOS when the model wants one and `text` does not start with it.
        """
        self._require_open()
        if add_special is None:
            add_special = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        data = text.encode("utf-8")
        cap = len(data) + 8
        arr = (self._llama.llama_token * cap)()
        n = self._llama.llama_tokenize(self._vocab, data, len(data), arr, cap, add_special, True)
        if n < 0:
            cap = -n
            arr = (self._llama.llama_token * cap)()
            n = self._llama.llama_tokenize(self._vocab, data, len(data), arr, cap, add_special, True)
        if n < 0:
            raise EngineError("Tokenizing the prompt failed.", "This is a bug; please report it.")
        return list(arr[:n])

    def render(self, request: ChatRequest) -> str:
        """The prompt text the chat template makes of `request`."""
        template = self.info.chat_template
        if not template:
            raise EngineError(f"{self.info.model} has no chat template in its GGUF metadata.", "Use a chat (instruct) model.")
        try:
            prompt = render_chat(template, request, bos_token=self._bos_text, eos_token=self._eos_text)
            return prompt + (request.assistant_prefix or "")  # a continuation goes on from there
        except Exception as exc:  # noqa: BLE001 - template errors are user-visible, not crashes
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"The chat template failed to render: {exc}.", "Check the messages (roles, tool-call arguments).") from None

    def count_tokens(self, request: ChatRequest) -> int:
        return len(self.tokenize(self.render(request)))

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens currently held in the KV cache (a copy)."""
        return list(self._cached)

    def reset_cache(self) -> None:
        """Forget the KV cache (the next request evaluates its whole prompt)."""
        self._require_open()
        self._llama.llama_memory_clear(self._mem, True)
        self._cached = []
        if self._mtp is not None:
            self._mtp.forget()

    # ---- sampling ----------------------------------------------------------------------------------

    def build_sampler(self, sampling: SamplingParams, grammar: str | None = None, *, extra_first: Sequence[Any] = ()) -> Any:
        """A llama.cpp sampler chain for `sampling` (see glmchat.engine.sampler); free with llama_sampler_free.

        `extra_first`: samplers placed at the head of the chain (benchmarks add a logit bias).
        """
        log_path = self.info.details.get("log_path")
        return build_sampler_chain(self._llama, self._vocab, sampling, grammar, extra_first=extra_first, log_path=log_path)

    # ---- evaluation --------------------------------------------------------------------------------

    def _decode(self, tokens: Sequence[int], start_pos: int, logits_last: bool) -> int:
        """Evaluate `tokens` at positions start_pos.. in one llama_decode; returns llama.cpp's code."""
        b = self._batch
        fill_batch(b, tokens, start_pos, every_logit=False)
        if logits_last:
            b.logits[len(tokens) - 1] = 1
        return self._llama.llama_decode(self._ctx, b)

    def _prepare(self, tokens: list[int]) -> int:
        """Keep the common prefix in the KV cache, drop the rest; returns how many tokens are reused."""
        n_keep = 0
        limit = min(len(self._cached), len(tokens) - 1)  # leave one token to evaluate
        cached = self._cached
        while n_keep < limit and cached[n_keep] == tokens[n_keep]:
            n_keep += 1
        if n_keep < len(cached):
            if not self._llama.llama_memory_seq_rm(self._mem, 0, n_keep, -1):
                self._llama.llama_memory_clear(self._mem, True)
                n_keep = 0
            del cached[n_keep:]
        return n_keep

    def _eval_prompt(self, tokens: list[int], n_keep: int, cancel: CancelToken | None) -> Generator[PromptProgress, None, bool]:
        """tokens[n_keep:] in n_batch chunks; between them a PromptProgress and a cancel check (False: cancelled)."""
        pos, total, t0 = n_keep, len(tokens), time.perf_counter()
        while pos < total:
            if pos > n_keep:  # never before the first chunk or after the last: no cost to short prompts
                yield PromptProgress(pos, total, n_keep, time.perf_counter() - t0)
                if cancel is not None and cancel.cancelled:
                    return False  # what was read stays cached
            chunk = tokens[pos : pos + self._n_batch]
            rc = self._decode(chunk, pos, logits_last=pos + len(chunk) == total)
            if rc != 0:
                self.reset_cache()
                raise EngineError(f"llama.cpp failed evaluating the prompt (llama_decode returned {rc}).", f"See the llama.cpp log: {self.info.details.get('log_path')}")
            self._cached.extend(chunk)
            if self._mtp is not None:
                self._mtp.observe(chunk, pos, len(chunk))
            pos += len(chunk)
        return True

    # ---- generation --------------------------------------------------------------------------------

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None, *, ignore_eos: bool = False) -> Iterator[StreamItem]:
        """Generate for `request`: Started, RawText pieces, Finished (see glmchat.engine.base).

        `ignore_eos=True` (benchmarks): end-of-generation tokens get a -inf logit bias, so only
        max_tokens or the context stops generation.

        Any thread may call this; the tokens are computed on the engine's own thread.
        """
        if self._compute is None:
            return self._generate(request, cancel, ignore_eos=ignore_eos)
        abandoned = CancelToken()  # set when the caller stops reading: the generation ends at the next token
        either = EitherCancel(cancel, abandoned)
        return self._compute.iterate(lambda: self._generate(request, either, ignore_eos=ignore_eos), abandoned.cancel)

    def on_compute_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the thread that runs this engine's decodes. For code that drives
        llama.cpp directly beside the engine (benchmarks): a second calling thread would start a
        second OpenMP pool and slow both down (see glmchat.engine.compute_thread)."""
        if self._compute is None:
            return fn(*args)
        return self._compute.call(fn, *args)

    def end_tokens(self) -> list[int]:
        """Every token that ends generation (llama.cpp's end-of-generation set plus GLM's extras)."""
        if self._eog_ids is None:
            lc = self._llama
            n_vocab = lc.llama_vocab_n_tokens(self._vocab)
            is_eog = lc.llama_vocab_is_eog
            self._eog_ids = sorted({t for t in range(n_vocab) if is_eog(self._vocab, t)} | self._stop_ids)
        return list(self._eog_ids)

    def _eog_bias_sampler(self) -> Any:
        return logit_ban_sampler(self._llama, self._vocab, self.end_tokens())

    def _speculates(self, request: ChatRequest) -> bool:
        """N-gram drafting for this request: its mode allows it, no grammar, a model whose KV rolls back."""
        if resolve_mode(self.speculative, self._mtp is not None) == "off" or request.grammar:
            return False
        lc = self._llama
        return not (lc.llama_model_is_recurrent(self._model) or lc.llama_model_is_hybrid(self._model))

    def _generate(self, request: ChatRequest, cancel: CancelToken | None, *, ignore_eos: bool = False) -> Iterator[StreamItem]:
        self._require_open()
        if not self._lock.acquire(blocking=False):
            raise EngineError("The local engine is already generating.", "Wait for the current answer or cancel it.")
        try:
            yield from self._run(request, cancel, ignore_eos)
        finally:
            self._lock.release()

    def _run(self, request: ChatRequest, cancel: CancelToken | None, ignore_eos: bool) -> Iterator[StreamItem]:
        lc = self._llama
        t_start = time.perf_counter()
        self.last_note = None
        prompt = self.render(request)
        tokens = self.tokenize(prompt)
        usage = Usage(prompt_tokens=len(tokens))
        in_thinking = prompt_opens_thinking(prompt)
        if not tokens:
            raise EngineError("The rendered prompt is empty.", "Send at least one message.")
        if len(tokens) >= self._n_ctx:
            usage.stop_reason = "error"
            yield Started(prompt_tokens=len(tokens), cached_prompt_tokens=0, in_thinking=in_thinking)
            yield Finished(usage)
            raise EngineError(
                f"The conversation is {len(tokens):,} tokens; the context holds {self._n_ctx:,}.",
                "Start a new conversation, or load the model with a larger --ctx.",
            )
        extra = [self._eog_bias_sampler()] if ignore_eos else []
        sampler = self.build_sampler(request.sampling, request.grammar, extra_first=extra)
        self.sampling.attach(self._ctx, sampler, request.sampling, request.grammar)  # in the graph when it can (backend_sampling)
        try:
            n_keep = self._prepare(tokens)
            usage.cached_prompt_tokens = n_keep
            yield Started(prompt_tokens=len(tokens), cached_prompt_tokens=n_keep, in_thinking=in_thinking)
            t_prompt = time.perf_counter()
            try:
                read = yield from self._eval_prompt(tokens, n_keep, cancel)
            except EngineError:
                usage.stop_reason = "error"
                yield Finished(usage)
                raise
            t_gen = time.perf_counter()
            usage.prompt_time = t_gen - t_prompt
            if usage.prompt_time > 0:
                usage.prompt_tokens_per_second = (len(tokens) - n_keep) / usage.prompt_time
            if not read:  # cancelled while reading the prompt
                usage.stop_reason = "cancelled"
                yield Finished(usage)
                return
            if self._speculates(request):
                mtp = self._mtp is not None and resolve_mode(self.speculative, True) == "mtp"
                if not mtp:
                    control, drafter = None, self._ngram.sync(tokens)
                elif self.speculative == "auto":  # n-gram drafts where the text repeats, MTP elsewhere
                    control, drafter = mixed(self._ngram.sync(tokens), *self._mtp.loop_args(self))
                else:
                    control, drafter = self._mtp.loop_args(self)
                yield from speculative_loop(self, request.sampling, sampler, cancel, usage, t_start, t_gen, drafter, control)
            else:
                yield from plain_loop(self, request.sampling, sampler, cancel, usage, t_start, t_gen)
        finally:
            self.sampling.detach(self._ctx)
            lc.llama_sampler_free(sampler)

    # ---- KV state snapshots (instant resume) ---------------------------------------------------------

    def save_state(self, path: str | os.PathLike[str]) -> int:
        """Write sequence 0's KV state and its tokens to `path` (llama_state_seq_save_file).

        Returns the number of tokens saved. Raises EngineError when llama.cpp cannot write the file.
        """
        self._require_open()
        if not self._lock.acquire(blocking=False):
            raise EngineError("The local engine is generating; its state cannot be saved now.", "Save after the answer finished.")
        try:
            if not save_sequence(self._llama, self._ctx, self._cached, path):
                raise EngineError(f"Saving the KV state to {path} failed.", f"See the llama.cpp log: {self.info.details.get('log_path')}")
            return len(self._cached)
        finally:
            self._lock.release()

    def load_state(self, path: str | os.PathLike[str]) -> int:
        """Load a KV state written by `save_state` into sequence 0; returns the tokens now cached.

        On any failure the KV cache is left empty (the next request evaluates its whole prompt) and
        EngineError is raised.
        """
        self._require_open()
        if not self._lock.acquire(blocking=False):
            raise EngineError("The local engine is generating; a saved state cannot be loaded now.", "Load it before sending.")
        try:
            self._cached = []
            if self._mtp is not None:  # its KV would belong to another conversation
                self._mtp.forget()
            tokens = load_sequence(self._llama, self._ctx, self._mem, self._n_ctx, path)
            if tokens is None:
                raise EngineError(f"The saved KV state {path} could not be loaded.", f"It is ignored; see the llama.cpp log: {self.info.details.get('log_path')}")
            self._cached = tokens
            return len(tokens)
        finally:
            self._lock.release()

    # ---- teardown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the context, the batch and the model. Safe to call twice."""
        lc = self._llama
        if lc is None:
            return
        if self._batch is not None:
            lc.llama_batch_free(self._batch)
            self._batch = None
        if self._mtp is not None:  # before the target context it reads from
            self._mtp.close()
            self._mtp = None
        if self._ctx is not None:
            lc.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            lc.llama_model_free(self._model)
            self._model = None
        self._cached = []
        if self._compute is not None:
            self._compute.close()
            self._compute = None

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

