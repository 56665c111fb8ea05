"""The local engine computes on one thread of its own, whichever thread asks."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Finished, RawText, SamplingParams
from glmchat.engine.compute_thread import ComputeThread


def test_call_runs_on_the_compute_thread_and_hands_back_results_and_errors():
    ct = ComputeThread()
    try:
        ident = ct.call(threading.get_ident)
        assert ident != threading.get_ident()
        assert ct.call(threading.get_ident) == ident  # always the same thread
        assert ct.call(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ValueError, match="boom"):
            ct.call(lambda: (_ for _ in ()).throw(ValueError("boom")))
    finally:
        ct.close()


def test_iterate_streams_items_and_errors():
    ct = ComputeThread()
    try:
        seen = []

        def gen():
            for i in range(5):
                seen.append(threading.get_ident())
                yield i
            raise KeyError("end")

        items = []
        with pytest.raises(KeyError):
            for x in ct.iterate(gen, stop=lambda: None):
                items.append(x)
        assert items == [0, 1, 2, 3, 4]
        assert set(seen) == {ct.call(threading.get_ident)}
    finally:
        ct.close()


def test_iterate_stopped_early_asks_the_producer_to_stop_and_waits_for_it():
    ct = ComputeThread()
    try:
        stop = threading.Event()
        ended = threading.Event()

        def gen():
            try:
                i = 0
                while not stop.is_set():
                    yield i
                    i += 1
            finally:
                ended.set()

        it = ct.iterate(gen, stop=stop.set)
        assert next(it) == 0
        it.close()  # the caller goes away: stop() is called and the producer has ended on return
        assert stop.is_set() and ended.is_set()
        assert ct.call(lambda: "free") == "free"  # the thread takes new work
    finally:
        ct.close()


def test_iterate_on_the_compute_thread_itself_runs_inline():
    ct = ComputeThread()
    try:
        assert ct.call(lambda: list(ct.iterate(lambda: iter([1, 2, 3]), stop=lambda: None))) == [1, 2, 3]
    finally:
        ct.close()


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_engine_uses_one_thread_pool_whichever_threads_call_it(smollm2_path):
    """Three long-lived caller threads (like the TUI's executor) each generate; llama.cpp's OpenMP
    pool must not be duplicated per caller (a second pool throttles generation ~20%)."""
    from glmchat.engine.local import LocalEngine

    engine = LocalEngine.load(smollm2_path, n_ctx=512, n_threads=2)
    req = ChatRequest(messages=[{"role": "user", "content": "Say hi."}], sampling=SamplingParams(temperature=0.0, max_tokens=4))
    try:
        list(engine.stream(req))  # the engine's own pool exists from here on
        with ThreadPoolExecutor(max_workers=3) as pool:
            barrier = threading.Barrier(3)

            def one() -> int:
                barrier.wait()  # all three threads are alive at once
                with_lock.acquire()
                try:
                    items = list(engine.stream(req))
                finally:
                    with_lock.release()
                assert isinstance(items[-1], Finished) and any(isinstance(i, RawText) for i in items)
                return _os_threads()

            with_lock = threading.Lock()
            before = _os_threads()
            counts = list(pool.map(lambda _: one(), range(3)))
        # the three caller threads themselves and nothing more: with a pool per caller it was +6
        assert max(counts) <= before + 3, (before, counts)
    finally:
        engine.close()


@pytest.mark.slow
def test_cancel_from_the_caller_reaches_the_compute_thread(smollm2_path):
    from glmchat.engine.local import LocalEngine

    engine = LocalEngine.load(smollm2_path, n_ctx=512, n_threads=1)
    try:
        cancel = CancelToken()
        req = ChatRequest(messages=[{"role": "user", "content": "Count to one hundred."}], sampling=SamplingParams(temperature=0.0, max_tokens=200))
        n = 0
        for item in engine.stream(req, cancel):
            if isinstance(item, RawText):
                n += 1
                if n == 3:
                    cancel.cancel()
            if isinstance(item, Finished):
                assert item.usage.stop_reason == "cancelled"
                assert item.usage.completion_tokens <= 4
        follow = list(engine.stream(req.__class__(messages=req.messages, sampling=SamplingParams(temperature=0.0, max_tokens=3))))
        assert follow[-1].usage.completion_tokens == 3  # usable again
    finally:
        engine.close()
