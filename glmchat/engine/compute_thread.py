"""One long-lived thread that runs every llama.cpp computation of one local engine.

llama.cpp's CPU backend, built with OpenMP (as pip builds it), keeps a pool of worker threads per
*calling* thread, alive for as long as that thread lives. Two live pools make libgomp count more
threads than cores; it then lets its workers sleep between layers instead of spinning, and
generation runs ~20% slower (measured with SmolLM2 on 2 cores). Callers come from anywhere: the
TUI's workers run on a shared executor's threads, the model loads on one and a turn runs on
another. So the engine computes on its own thread, and callers get the results handed over:
`call` for one result, `iterate` for a stream (items cross over through a queue, so the thread
computing the next token never waits for the caller to take the last one).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Protocol, TypeVar

T = TypeVar("T")

_ITEM, _DONE, _ERROR = 0, 1, 2


class ComputeThread:
    def __init__(self, name: str = "glmchat-llama") -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def here(self) -> bool:
        """Is the calling thread the compute thread?"""
        return threading.current_thread() is self._thread

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the compute thread and return its result (or raise its exception)."""
        if self.here:
            return fn(*args)
        if not self._thread.is_alive():
            raise RuntimeError("the engine's compute thread has stopped")
        box: list = []
        done = threading.Event()

        def job() -> None:
            try:
                box.append((True, fn(*args)))
            except BaseException as exc:  # handed to the caller
                box.append((False, exc))
            done.set()

        self._jobs.put(job)
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def iterate(self, make: Callable[[], Iterator[T]], stop: Callable[[], None]) -> Iterator[T]:
        """Run the generator `make()` on the compute thread and yield its items here.

        When the caller stops early (closes the generator, or an exception such as Ctrl-C reaches
        it), `stop()` is called, which must make the generator end soon (the engine cancels), and
        this waits for it to end, so the engine is free again when the caller goes on.
        """
        if self.here:
            yield from make()
            return
        if not self._thread.is_alive():
            raise RuntimeError("the engine's compute thread has stopped")
        out: queue.SimpleQueue = queue.SimpleQueue()

        def job() -> None:
            try:
                for item in make():
                    out.put((_ITEM, item))
            except BaseException as exc:  # handed to the caller
                out.put((_ERROR, exc))
                return
            out.put((_DONE, None))

        self._jobs.put(job)
        finished = False
        try:
            while True:
                kind, value = out.get()
                if kind == _ITEM:
                    yield value
                    continue
                finished = True
                if kind == _ERROR:
                    raise value
                return
        finally:
            if not finished:
                stop()
                while out.get()[0] == _ITEM:
                    pass

    def close(self) -> None:
        """Stop the thread after the jobs already queued (not from the compute thread itself)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            if not self.here:
                self._thread.join()


class _Cancellable(Protocol):
    @property
    def cancelled(self) -> bool: ...


class EitherCancel:
    """Cancelled when any of its tokens is: the caller's, or the engine's own one that `iterate`'s
    `stop` sets when the caller stops reading."""

    def __init__(self, *tokens: _Cancellable | None) -> None:
        self._tokens = [t for t in tokens if t is not None]

    @property
    def cancelled(self) -> bool:
        return any(t.cancelled for t in self._tokens)
