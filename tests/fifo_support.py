"""Calls that must not block on a FIFO: run them on a daemon thread, fail the test (not hang the run).

Opening a FIFO to read waits for a writer, opening one to write waits for a reader. `call_within`
runs `fn()` on a daemon thread; when it is still blocked after `hang_after` seconds, the other end
of every FIFO under `root` is opened (so the thread can finish) and the test fails. Otherwise it
checks that the call took less than `limit` seconds and hands back what it returned or raised.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest


def unblock_fifos(root: Path) -> None:
    """Open the other end of every FIFO at or under `root`, so that a thread stuck opening one goes on."""
    fifos = [root] if root.is_fifo() else [p for p in root.rglob("*") if p.is_fifo()]
    for fifo in fifos:
        for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
            try:
                os.close(os.open(fifo, flags))
            except OSError:
                pass


def call_within(fn: Callable[[], Any], root: Path, limit: float = 1.0, hang_after: float = 5.0) -> Any:
    """What `fn()` returned or raised, after checking it took under `limit` s (a blocked call fails the test)."""
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["value"] = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(hang_after)
    took = time.monotonic() - t0
    if worker.is_alive():
        unblock_fifos(root)
        worker.join(2.0)
        pytest.fail(f"blocked for more than {hang_after:g} s (on a FIFO?); the limit is {limit:g} s")
    assert took < limit, f"took {took:.2f} s (limit {limit:g} s)"
    return box["value"]
