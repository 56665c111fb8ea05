"""Progress through a long prompt: `PromptProgress` items between the prompt's chunks (never after the
first token, never for a one-chunk prompt), and a cancel that stops the prompt between chunks."""

from __future__ import annotations

import threading
import time

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Finished, PromptProgress, RawText, SamplingParams, Started
from glmchat.engine.scripted import ScriptedEngine
from glmchat.session_events import PromptProgressed

GREEDY = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=4)
LONG = " ".join(f"word{i} is a word in a long list of words." for i in range(60))  # ~800 tokens


def ask(text: str, **sampling) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingParams(**{**GREEDY.to_dict(), **sampling}))


def kinds(items) -> list[str]:
    return [type(i).__name__ for i in items]


# ---- the scripted engine (what the UI tests drive) ------------------------------------------------


def test_scripted_engine_reads_its_prompt_in_chunks_before_the_text():
    items = list(ScriptedEngine(scripts=["</think>hi"], prompt_chunks=4).stream(ask("hello")))
    names = kinds(items)
    assert names[0] == "Started" and names[1:4] == ["PromptProgress"] * 3 and names[4] == "RawText" and names[-1] == "Finished"
    progress = [i for i in items if isinstance(i, PromptProgress)]
    total = items[0].prompt_tokens
    assert [p.done for p in progress] == [total // 4, total // 2, 3 * total // 4] and {p.total for p in progress} == {total}


def test_scripted_engine_cancelled_while_reading_the_prompt_writes_nothing():
    cancel = CancelToken()
    items = []
    for item in ScriptedEngine(scripts=["</think>never"], prompt_chunks=5).stream(ask("hello"), cancel):
        items.append(item)
        if isinstance(item, PromptProgress):
            cancel.cancel()
    assert not [i for i in items if isinstance(i, RawText)]
    assert items[-1].usage.stop_reason == "cancelled" and kinds(items).count("PromptProgress") == 1


def test_progress_event_says_what_was_read_its_rate_and_the_time_left():
    early = PromptProgressed(done=512, total=4700, cached=0, elapsed=0.2)
    assert early.describe() == "reading the prompt 512/4,700 tok"  # too early for a steady rate
    ev = PromptProgressed(done=1100, total=4700, cached=100, elapsed=10.0)
    assert ev.rate == pytest.approx(100.0) and ev.eta == pytest.approx(36.0)
    assert ev.describe() == "reading the prompt 1,100/4,700 tok · 100 tok/s · ~36 s left"
    assert PromptProgressed(done=10, total=20).eta is None
    assert ev.describe(compact=True) == "prompt 1,100/4,700 · 100 tok/s · ~36 s"  # the status bar's


# ---- the local engine (SmolLM2) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(smollm2_path, tmp_path_factory):
    from glmchat.engine.local import LocalEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(tmp_path_factory.mktemp("engine-data")))
        eng = LocalEngine.load(smollm2_path, n_ctx=2048, n_threads=1, n_batch=64)
    yield eng
    eng.close()


@pytest.mark.slow
def test_local_engine_reports_progress_between_prompt_chunks_then_generates(engine):
    engine.reset_cache()
    items = list(engine.stream(ask(LONG)))
    started = items[0]
    assert isinstance(started, Started) and started.prompt_tokens > 3 * 64
    first_text = next(i for i, it in enumerate(items) if isinstance(it, RawText))
    progress = items[1:first_text]
    assert progress and all(isinstance(p, PromptProgress) for p in progress)
    assert not [i for i in items[first_text:] if isinstance(i, PromptProgress)]  # none once generating
    total = started.prompt_tokens
    assert [p.done for p in progress] == list(range(64, total, 64))  # one per chunk boundary
    assert all(p.total == total and p.cached == 0 for p in progress)
    assert [p.elapsed for p in progress] == sorted(p.elapsed for p in progress) and progress[-1].elapsed > 0
    assert isinstance(items[-1], Finished) and items[-1].usage.stop_reason in ("stop", "length")
    # the same prompt again: all but one token comes from the KV cache, one chunk, no progress
    again = list(engine.stream(ask(LONG)))
    assert again[0].cached_prompt_tokens == total - 1 and not [i for i in again if isinstance(i, PromptProgress)]


@pytest.mark.slow
def test_local_engine_short_prompt_has_no_progress(engine):
    engine.reset_cache()
    items = list(engine.stream(ask("hi")))
    assert items[0].prompt_tokens < 64 and "PromptProgress" not in kinds(items)


@pytest.mark.slow
def test_cancel_during_a_long_prompt_stops_between_chunks_and_the_engine_carries_on(engine):
    engine.reset_cache()
    cancel = CancelToken()
    items = []
    t0 = time.perf_counter()
    for item in engine.stream(ask(LONG), cancel):
        items.append(item)
        if isinstance(item, PromptProgress) and item.done >= 128:
            cancel.cancel()
    assert time.perf_counter() - t0 < 30
    assert not [i for i in items if isinstance(i, RawText)]
    finished = items[-1]
    assert isinstance(finished, Finished) and finished.usage.stop_reason == "cancelled" and finished.usage.completion_tokens == 0
    read = max(p.done for p in items if isinstance(p, PromptProgress))
    assert read < items[0].prompt_tokens  # stopped before the end of the prompt
    # what was read stays cached: the next request with the same prompt reuses it and answers
    nxt = list(engine.stream(ask(LONG)))
    assert nxt[0].cached_prompt_tokens >= read - 1 and isinstance(nxt[-1], Finished) and nxt[-1].usage.stop_reason != "cancelled"
    assert [i for i in nxt if isinstance(i, RawText)]


@pytest.mark.slow
def test_progress_items_reach_a_caller_on_another_thread_as_they_happen(engine):
    """The stream crosses from the compute thread: each progress item arrives before the prompt ends."""
    engine.reset_cache()
    seen: list[tuple[float, object]] = []

    def consume() -> None:
        for item in engine.stream(ask(LONG)):
            seen.append((time.perf_counter(), item))

    t = threading.Thread(target=consume)
    t.start()
    t.join(60)
    first_progress = next(ts for ts, it in seen if isinstance(it, PromptProgress))
    first_text = next(ts for ts, it in seen if isinstance(it, RawText))
    assert first_progress < first_text
