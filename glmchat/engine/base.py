"""The engine protocol: where tokens come from.

An engine turns a `ChatRequest` (messages in Hugging Face chat form plus rendering options and
sampling values) into a stream of `StreamItem`s. Two implementations share it:

* `glmchat.engine.local.LocalEngine`  — llama.cpp embedded in this process (llama-cpp-python).
* `glmchat.engine.remote.RemoteEngine` — an OpenAI-compatible server (vLLM, SGLang, llama-server).

The engine knows nothing of the GLM tags: it yields raw model text as `RawText` (the session runs it
through `glmchat.glm.GlmStreamParser`), or, when a remote server already split reasoning and tool
calls out, the parsed pieces as `ReasoningText` / `AnswerText` / `ToolCallDelta`. Every stream starts
with one `Started` and ends with exactly one `Finished` (also on cancel and on error, where the
engine raises `EngineError` *after* the partial text was yielded). A local engine may yield
`PromptProgress` items between `Started` and the first text while it reads a long prompt.

Beyond `Engine`, an engine may offer optional capabilities, each declared below as a protocol of its
own: `Tokenizing` (prompt text and token ids), `SnapshotCapable` (KV-cache state to a file and back)
and `Benchmarkable` (what `glmchat bench` measures). Callers ask with `isinstance(engine, X)`, never
by probing for attribute names; `LocalEngine` has all three, `RemoteEngine` none.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Protocol, Union, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    """The values handed to the sampler. See `glmchat.settings` for the built-in profiles."""

    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int = 40  # 0 = off (exact vLLM / Z.ai semantics, slower on a 154,880-token vocabulary)
    min_p: float = 0.01
    repeat_penalty: float = 1.0  # 1.0 = off
    max_tokens: int | None = None  # None = until an end-of-generation token or the context is full
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChatRequest:
    """One generation: the whole conversation so far, rendered by the engine's chat template."""

    messages: list[dict[str, Any]]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    tools: list[dict[str, Any]] | None = None  # OpenAI-style [{"type": "function", "function": {...}}]
    enable_thinking: bool = True
    clear_thinking: bool = True
    grammar: str | None = None  # GBNF; local engine only (tests force outputs with it)
    # raw text the assistant turn already holds: the model goes on after it (glmchat.glm.close_thought
    # when a looping thought is closed); only engines whose `continues_prefix` is True honour it
    assistant_prefix: str | None = None


@dataclass
class Usage:
    """Figures for one generation. Times in seconds, rates in tokens per second."""

    prompt_tokens: int = 0  # tokens in the rendered prompt
    cached_prompt_tokens: int = 0  # of those, reused from the KV cache (not evaluated again)
    completion_tokens: int = 0
    time_to_first_token: float = 0.0  # request start → first generated token
    prompt_time: float = 0.0  # evaluating the uncached prompt tokens
    generation_time: float = 0.0  # local: end of prompt evaluation → last token; remote: first → last token
    prompt_tokens_per_second: float = 0.0  # (prompt_tokens - cached) / prompt_time
    generation_tokens_per_second: float = 0.0  # completion_tokens / generation_time
    stop_reason: str = "stop"  # stop | length | cancelled | error
    note: str | None = None  # why it stopped when not obvious, e.g. "the context is full (4,096 tokens)"
    draft_tokens: int = 0  # speculative decoding: tokens drafted (glmchat.engine.speculative)
    accepted_draft_tokens: int = 0  # of those, accepted (each saves one decode)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EngineInfo:
    model: str  # display name, e.g. "GLM-4.7-Flash" or the file stem
    path: str | None = None  # local file or endpoint URL
    quant: str | None = None  # e.g. "UD-Q4_K_XL" when known
    backend: str = "CPU"  # CUDA | Metal | Vulkan | CPU | remote
    where: str = "local"  # "local" or the remote host
    n_ctx: int = 0  # context the engine runs with
    n_ctx_train: int = 0  # the model's trained context
    chat_template: str | None = None
    thinking: bool = False  # the template opens a <think> block in the generation prompt (remote: the server said so)
    cpu_threads: int = 0  # CPU threads a generation keeps busy in this process (0: it runs elsewhere)
    details: dict[str, Any] = field(default_factory=dict)


# ---- stream items -------------------------------------------------------------------------------


@dataclass
class Started:
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    # the rendered prompt ends inside a <think> block; None: not known (a remote server that did not
    # say): the parser holds the text until the output or its end shows what it was
    in_thinking: bool | None = False


@dataclass
class PromptProgress:
    """Between chunks of a long prompt's evaluation (before the first token): `done` of `total`
    prompt tokens are in the KV cache, `cached` of them were reused; `elapsed` seconds since the
    evaluation of the uncached part began. Engines that cannot tell never yield it."""

    done: int
    total: int
    cached: int = 0
    elapsed: float = 0.0


@dataclass
class RawText:
    text: str


@dataclass
class ReasoningText:
    text: str


@dataclass
class AnswerText:
    text: str


@dataclass
class ToolCallDelta:
    """A complete tool call parsed by a remote server (arguments already a mapping)."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class Finished:
    usage: Usage


StreamItem = Union[Started, PromptProgress, RawText, ReasoningText, AnswerText, ToolCallDelta, Finished]


class CancelToken:
    """Set from any thread; the engine checks it before every token."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


@runtime_checkable
class Engine(Protocol):
    info: EngineInfo

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None) -> Iterator[StreamItem]:
        """Generate. Yields Started, then text items, then Finished. Raises EngineError on failure."""
        ...

    def count_tokens(self, request: ChatRequest) -> int:
        """Tokens the rendered prompt of `request` takes (an estimate is fine for remote engines)."""
        ...

    def close(self) -> None: ...


# ---- optional capabilities ----------------------------------------------------------------------


@runtime_checkable
class Tokenizing(Protocol):
    """An engine that shows the prompt text it makes of a request and the tokens of a text."""

    def render(self, request: ChatRequest) -> str:
        """The prompt text the chat template makes of `request`."""
        ...

    def tokenize(self, text: str, *, add_special: bool | None = None) -> list[int]:
        """Token ids of `text` (`add_special=None`: add BOS when the model wants one)."""
        ...


@runtime_checkable
class SnapshotCapable(Protocol):
    """An engine whose KV cache can be written to a file and loaded back (instant resume).

    See `glmchat.engine.kv_snapshot` for when and where snapshots are kept.
    """

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens currently held in the KV cache (a copy)."""
        ...

    def save_state(self, path: str | os.PathLike[str]) -> int:
        """Write the KV state and its tokens to `path`; returns the tokens saved. Raises EngineError."""
        ...

    def load_state(self, path: str | os.PathLike[str]) -> int:
        """Load a state written by `save_state`; returns the tokens now cached. Raises EngineError."""
        ...


@runtime_checkable
class Benchmarkable(Protocol):
    """An engine `glmchat bench` can measure: its KV cache can be emptied and end tokens ignored."""

    info: EngineInfo

    def count_tokens(self, request: ChatRequest) -> int: ...

    def reset_cache(self) -> None:
        """Forget the KV cache (the next request evaluates its whole prompt)."""
        ...

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None, *, ignore_eos: bool = False) -> Iterator[StreamItem]:
        """As `Engine.stream`; `ignore_eos=True` generates until max_tokens or the context is full."""
        ...
