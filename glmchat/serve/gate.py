"""One generation at a time, a bounded line of requests waiting for it, and each generation on a thread.

The engine is single-stream: `Gate.admit()` counts a request in (False when the line is full: the
server answers 429), `Gate.lock` is held while it generates. `Generation` runs `engine.stream` on a
worker thread and hands its items to the event loop; `close()` cancels it and waits for the thread, so
the lock is only released once the engine is free again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio

from glmchat.engine.base import CancelToken, ChatRequest, Engine

_END = object()


class Gate:
    def __init__(self, queue_size: int = 4) -> None:
        self.queue_size = queue_size
        self.lock = asyncio.Lock()
        self.admitted = 0  # generating + waiting

    def admit(self) -> bool:
        if self.admitted >= 1 + self.queue_size:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        self.admitted -= 1


class Generation:
    """`engine.stream(request)` on a thread; iterate it in the event loop."""

    def __init__(self, engine: Engine, request: ChatRequest) -> None:
        self.cancel = CancelToken()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                for item in engine.stream(request, self.cancel):
                    loop.call_soon_threadsafe(self._queue.put_nowait, item)
                loop.call_soon_threadsafe(self._queue.put_nowait, _END)
            except BaseException as exc:  # noqa: BLE001 - EngineError and anything else: raised in the loop
                loop.call_soon_threadsafe(self._queue.put_nowait, exc)

        self._thread = threading.Thread(target=run, name="glmchat-serve-generation", daemon=True)
        self._thread.start()

    async def next(self, timeout: float | None = None) -> Any:
        """The next item; None at the end; raises what the engine raised; TimeoutError after `timeout`."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def items(self) -> AsyncIterator[Any]:
        while (item := await self.next()) is not None:
            yield item

    async def close(self) -> None:
        """Cancel (a no-op after the end) and wait until the engine is free, even when cancelled."""
        self.cancel.cancel()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._thread.join)
