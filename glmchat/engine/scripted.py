"""A scripted engine: replays prepared raw model output. For UI tests, benchmarks and demos.

Each call to `stream()` takes the next script from the list (the last one repeats). A script is
raw model text as GLM writes it (`reasoning</think>answer<tool_call>…`), cut into chunks of
`chunk_chars` characters, optionally with a delay between chunks. Cancellation, usage figures and
prompt-token counts behave like the real engines so UI code sees the same shapes. With
`prompt_chunks` > 1 it reads the prompt in that many chunks first (`prompt_delay` seconds each),
yielding `PromptProgress` between them as the local engine does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator

from glmchat.engine.base import CancelToken, ChatRequest, EngineInfo, Finished, PromptProgress, RawText, Started, StreamItem, Usage
from glmchat.errors import EngineError


@dataclass
class ScriptedEngine:
    scripts: list[str] = field(default_factory=lambda: ["Let me think.</think>Hello! How can I help?"])
    chunk_chars: int = 4
    delay: float = 0.0  # seconds between chunks
    n_ctx: int = 16384
    fail_after: int | None = None  # raise EngineError after this many chunks (error paths)
    prompt_chunks: int = 1  # the prompt is read in this many chunks (PromptProgress between them)
    prompt_delay: float = 0.0  # seconds each prompt chunk takes
    on_request: Callable[[ChatRequest], None] | None = None
    info: EngineInfo = field(
        default_factory=lambda: EngineInfo(model="scripted", backend="CPU", where="local", n_ctx=16384, n_ctx_train=202752, thinking=True)
    )

    continues_prefix = True  # a request with an assistant_prefix takes the next script as its continuation

    def __post_init__(self) -> None:
        self.info.n_ctx = self.n_ctx
        self.calls = 0
        self.requests: list[ChatRequest] = []

    def count_tokens(self, request: ChatRequest) -> int:
        # about four characters a token, like real tokenizers on English text
        text = json.dumps(request.messages, ensure_ascii=False) + json.dumps(request.tools or [])
        return len(text) // 4 + 8

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None) -> Iterator[StreamItem]:
        cancel = cancel or CancelToken()
        self.requests.append(request)
        if self.on_request:
            self.on_request(request)
        script = self.scripts[min(self.calls, len(self.scripts) - 1)]
        self.calls += 1
        if not request.enable_thinking and "</think>" in script:
            script = script.split("</think>", 1)[1]
        t0 = time.perf_counter()
        prompt_tokens = self.count_tokens(request)
        # a continuation after a closed thought (assistant_prefix) goes on with the answer
        in_thinking = request.enable_thinking and not request.assistant_prefix
        yield Started(prompt_tokens=prompt_tokens, cached_prompt_tokens=0, in_thinking=in_thinking)
        first = None
        n = 0
        stop = "stop" if (yield from self._read_prompt(prompt_tokens, cancel)) else "cancelled"
        limit = request.sampling.max_tokens
        for i in range(0, len(script) if stop == "stop" else 0, self.chunk_chars):
            if cancel.cancelled:
                stop = "cancelled"
                break
            if limit is not None and n >= limit:
                stop = "length"
                break
            if self.fail_after is not None and n >= self.fail_after:
                raise EngineError("The scripted engine failed on purpose.", "This is a test.")
            if self.delay:
                time.sleep(self.delay)
            if first is None:
                first = time.perf_counter()
            n += 1
            yield RawText(script[i : i + self.chunk_chars])
        end = time.perf_counter()
        gen = end - (first or end)
        yield Finished(
            Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=n,
                time_to_first_token=(first or end) - t0,
                prompt_time=(first or end) - t0,
                generation_time=gen,
                prompt_tokens_per_second=prompt_tokens / ((first or end) - t0) if first and first > t0 else 0.0,
                generation_tokens_per_second=n / gen if gen > 0 else 0.0,
                stop_reason=stop,
            )
        )

    def _read_prompt(self, total: int, cancel: CancelToken) -> Generator[PromptProgress, None, bool]:
        """Pretend to evaluate the prompt in `prompt_chunks` chunks; False when cancelled meanwhile."""
        t0 = time.perf_counter()
        for k in range(1, max(self.prompt_chunks, 1) + 1):
            if self.prompt_delay:
                time.sleep(self.prompt_delay)
            if k < self.prompt_chunks:
                yield PromptProgress(total * k // self.prompt_chunks, total, 0, time.perf_counter() - t0)
                if cancel.cancelled:
                    return False
        return True

    def close(self) -> None:
        pass
