"""What the speculative-decoding tests share: an engine loaded for exact comparisons, and one run.

`exact_engine` loads with flash attention off: llama.cpp's CPU flash-attention kernel rounds a batch
of queries differently from a single one, which can flip a near-tie between two tokens (see
glmchat.engine.speculative); without it the batched verification is bit-exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Finished, RawText, SamplingParams

GREEDY = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}


def exact_engine(path: Path, data_dir: Path, **load):
    """A LocalEngine on `path` with flash attention off, its data (llama.log) under `data_dir`."""
    from glmchat.engine.local import LocalEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(data_dir))
        return LocalEngine.load(path, n_threads=load.pop("n_threads", 2), flash_attn=False, **load)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def generate(engine, mode: str, messages: list[dict], *, fresh: bool = True, cancel_after: int | None = None,
             ignore_eos: bool = False, **sampling):
    """(text, Usage) of one request in speculative `mode`; the cache emptied first unless not `fresh`;
    cancelled after `cancel_after` text pieces when given."""
    engine.speculative = mode
    if fresh:
        engine.reset_cache()
    cancel = CancelToken()
    request = ChatRequest(messages=messages, sampling=SamplingParams(**sampling))
    pieces, usage = [], None
    for item in engine.stream(request, cancel, ignore_eos=ignore_eos):
        if isinstance(item, RawText):
            pieces.append(item.text)
            if cancel_after is not None and len(pieces) == cancel_after:
                cancel.cancel()
        elif isinstance(item, Finished):
            usage = item.usage
    return "".join(pieces), usage
