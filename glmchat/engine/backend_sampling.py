"""In-graph (backend) sampling: the request's sampler chain runs inside llama.cpp's compute graph.

llama.cpp (the version llama-cpp-python 0.3.36 vendors) can run a sampler chain as part of the
decode graph (`llama_set_sampler(ctx, seq_id, chain)`, EXPERIMENTAL): top_k, top_p, min_p,
temperature, dist, greedy and logit bias have graph implementations; after `llama_decode` only the
sampled token comes back (`llama_get_sampled_token_ith`), not the 154,880-float logit row that the
CPU chain copies and sorts every token. `llama_sampler_sample(chain, ctx, i)` returns that token and
accepts it into the chain, so the decode loops (`decode_loop`, `speculative`) are the same for both
paths: only whether the chain is attached differs.

Same distribution: the graph runs the same stages in the same order (the chain `glmchat.engine.sampler`
builds). Same seed, same tokens within one build: dist draws its uniform numbers from the chain's own
seeded generator (`std::uniform_real_distribution<double>`, as the CPU dist does). Not the same tokens
as the CPU chain for the same seed: the graph orders the candidates differently before the cumulative
sum. Speculative verification is exact too: with several outputs per sequence the draws are
transactional (each decode draws position 0, 1, ... from a copy of the generator; only the draws of
accepted tokens — a contiguous prefix, as `_Run._verify` accepts them — advance it).

Which requests: the general/tool chains (and benchmarks' end-of-generation ban). A grammar and a
repeat penalty keep the request on the CPU chain (llama.cpp has no graph grammar; its graph penalty
refuses more than one output per sequence).

Modes (`[model] backend_sampling`): "auto" uses the graph when the output layer runs on a GPU: there
it saves the device→host copy of the logit row and the CPU sort. On the CPU backend llama.cpp's graph
sampling is slower (measured on the tiny GLM, 154,880 tokens: about +0.6 ms a token, most of it a
`ggml_pad` copy of the logit row that `build_sampling` adds), so "auto" keeps the CPU chain there.
"on" uses the graph wherever the check passes (tests, benchmarks, CPUs where it pays); "off" never.

The check (`probe`, at load, on the engine's compute thread, unless the mode already rules the graph
out): a general chain attached, one token decoded, a sampled token read back. Anything else (no API,
`llama_set_sampler` refused, no token) keeps the CPU chain, and `path.why` says why.

Costs of the graph path: attaching or detaching a chain makes llama.cpp re-plan its graph (~3.5 ms on
the tiny GLM, twice a request), and its compute buffer grows by a padded copy of the worst-case logits
(n_vocab × n_batch floats, ~300 MiB for GLM at n_batch 512) from the first attach on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glmchat.engine.base import SamplingParams
from glmchat.errors import UsageError

MODES = ("auto", "on", "off")
IN_GRAPH = "in-graph (backend)"
# Outputs per sequence the graph samples in one decode: a speculative verification is 1 + the draft
# (n-gram drafts: at most DraftControl.k_max = 16; MTP: 1-3). Each allowed output adds its sampling
# nodes to the graph llama.cpp reserves: n_batch (512) made that reserve ~25,000 nodes and 30-130 ms.
MAX_OUTPUTS_PER_SEQ = 32
_PROBE = SamplingParams(temperature=1.0, top_p=0.95, top_k=40, min_p=0.01, repeat_penalty=1.0, seed=1)


def api_present(lc: Any) -> bool:
    """Whether this llama-cpp-python binds the backend-sampling calls (the load-time probe decides the rest)."""
    return hasattr(lc, "llama_set_sampler") and hasattr(lc, "llama_get_sampled_token_ith")


def check_mode(mode: str) -> str:
    """`mode` when it is one of MODES (UsageError otherwise)."""
    if mode not in MODES:
        raise UsageError(f"Unknown backend_sampling mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
    return mode


def prepare_context(cparams: Any, mode: str) -> None:
    """Let the graph sample every output of a speculative verification batch: llama.cpp's default is one
    output per sequence with a backend sampler (more than one: its dist draws transactionally)."""
    if mode != "off" and hasattr(cparams, "n_outputs_max_per_seq"):
        cparams.n_outputs_max_per_seq = MAX_OUTPUTS_PER_SEQ


@dataclass
class SamplingPath:
    """Where this engine samples its general/tool requests, and why not in the graph when it does not."""

    in_graph: bool
    why: str = ""

    def text(self) -> str:
        """"in-graph (backend)" or "CPU chain (why)": the line `glmchat bench` and doctor print."""
        return IN_GRAPH if self.in_graph else f"CPU chain ({self.why})" if self.why else "CPU chain"


def request_reason(sampling: SamplingParams, grammar: str | None) -> str | None:
    """Why this request stays on the CPU chain (None: the graph can run its chain)."""
    if grammar:
        return "a grammar constrains the request"
    if sampling.repeat_penalty != 1.0:
        return "repeat penalty"
    return None


class BackendSampling:
    """One engine's in-graph sampling: the load-time verdict (`path`) and the per-request attach/detach.

    `lc`: the llama_cpp module; `build_chain(sampling)`: a sampler chain the caller owns (the engine's
    `build_sampler`); `output_on_gpu`: whether the model's output layer was placed on a GPU.
    """

    def __init__(self, lc: Any, mode: str = "auto", *, output_on_gpu: bool = False) -> None:
        self.lc = lc
        self.mode = check_mode(mode)
        self.output_on_gpu = output_on_gpu
        self.supported = False  # the probe passed: llama.cpp sampled in the graph
        self.path = SamplingPath(False, "not checked yet")
        self._attached = False
        self.last_in_graph = False  # whether the latest request sampled in the graph

    # ---- the check at load ---------------------------------------------------------------------------

    def probe(self, ctx: Any, build_chain: Callable[[SamplingParams], Any], decode_one: Callable[[], int], n_vocab: int) -> SamplingPath:
        """Attach a general chain, decode one token (`decode_one`: llama_decode's code), read the sampled
        token back; sets and returns `path`. The caller clears the KV cache afterwards."""
        if self.mode == "off":
            self.path = SamplingPath(False, 'backend_sampling = "off"')
        elif self.mode == "auto" and not self.output_on_gpu:  # not even checked: the check grows llama.cpp's compute buffer
            self.path = SamplingPath(False, 'auto: the output layer runs on the CPU, where llama.cpp\'s in-graph sampling is slower; backend_sampling = "on" forces it')
        else:
            why = self._try(ctx, build_chain, decode_one, n_vocab)
            self.supported = why is None
            self.path = SamplingPath(True) if why is None else SamplingPath(False, why)
        return self.path

    def _try(self, ctx: Any, build_chain: Callable[[SamplingParams], Any], decode_one: Callable[[], int], n_vocab: int) -> str | None:
        lc = self.lc
        if not api_present(lc):
            return "this llama-cpp-python has no backend sampling API"
        chain = build_chain(_PROBE)
        try:
            if not lc.llama_set_sampler(ctx, 0, chain):
                return "llama.cpp refused to run the sampler chain in the graph"
            try:
                rc = decode_one()
                token = int(lc.llama_get_sampled_token_ith(ctx, -1)) if rc == 0 else -1
            finally:
                lc.llama_set_sampler(ctx, 0, None)
            if rc != 0:
                return f"the check's llama_decode returned {rc}"
            if not 0 <= token < n_vocab:
                return "llama.cpp sampled no token in the graph"
            return None
        finally:
            lc.llama_sampler_free(chain)

    def set_in_graph(self, on: bool) -> SamplingPath:
        """Switch the path by hand (benchmarks comparing both on one engine): in the graph only where the
        check passed; returns the path now in effect."""
        if on and self.supported:
            self.path = SamplingPath(True)
        elif not on:
            self.path = SamplingPath(False, "switched off")
        return self.path

    # ---- per request ---------------------------------------------------------------------------------

    def attach(self, ctx: Any, chain: Any, sampling: SamplingParams, grammar: str | None) -> bool:
        """Run `chain` in the graph for this request when the path and the request allow it; True if attached.
        The chain must outlive the request: `detach` before freeing it."""
        self.last_in_graph = False
        if not self.path.in_graph or request_reason(sampling, grammar) is not None:
            return False
        self._attached = self.last_in_graph = bool(self.lc.llama_set_sampler(ctx, 0, chain))
        return self._attached

    def detach(self, ctx: Any) -> None:
        """Back to plain logits (the next decode re-plans its graph); a no-op when nothing is attached."""
        if self._attached:
            self.lc.llama_set_sampler(ctx, 0, None)
            self._attached = False


def request_path_text(engine_path: str, sampling: SamplingParams | None) -> str:
    """What a request with `sampling` runs on, given the engine's path text (`SamplingPath.text()`)."""
    why = request_reason(sampling, None) if sampling is not None else None
    return f"CPU chain ({why})" if why and engine_path == IN_GRAPH else engine_path


def configured_path(mode: str, gpu_offload: bool, api: bool) -> str:
    """`glmchat doctor`, before any model loads: the path `mode` picks on this machine (the load-time check decides)."""
    if mode == "off":
        return SamplingPath(False, 'backend_sampling = "off"').text()
    if not api:
        return SamplingPath(False, "this llama-cpp-python has no backend sampling API").text()
    if mode == "auto" and not gpu_offload:
        return SamplingPath(False, 'auto: no GPU offload; on the CPU llama.cpp\'s in-graph sampling is slower; backend_sampling = "on" forces it').text()
    where = "when the output layer is on the GPU" if mode == "auto" else "wherever llama.cpp accepts the chain"
    return f"{IN_GRAPH} {where}, checked when the model loads; a grammar or repeat penalty uses the CPU chain"
