"""How often the chat pane repaints while a turn streams.

A repaint (Markdown parse, layout, compositing) costs the UI thread a few milliseconds. With a spare
CPU core that is free, so the UI repaints at `interval` (30 per second). When the engine's threads
already occupy every core (a model running on the CPU), each millisecond the UI thread runs is taken
from one of llama.cpp's threads, and because those threads wait for each other after every layer, the
whole generation slows down by about as much. Then the pacer holds the UI to `budget` of one core:
it measures the UI thread's CPU time since the previous repaint and waits that long divided by the
budget before the next one (never longer than `max_interval`, so the stream keeps moving).
"""

from __future__ import annotations

import os
import time
from typing import Callable


def usable_cpus() -> int:
    """Logical CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class FramePacer:
    """Spaces the repaints of a stream; call `start` when a turn begins and `after_frame` after each."""

    def __init__(
        self,
        interval: float = 1 / 30,
        budget: float = 0.02,
        max_interval: float = 1.0,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.interval = interval
        self.budget = budget
        self.max_interval = max(max_interval, interval)
        self.cpu_clock = cpu_clock
        self.contended = False
        self._cpu_at: float | None = None

    def start(self, engine_cpu_threads: int, cpus: int | None = None) -> float:
        """A turn begins. Returns the delay before the first repaint."""
        cpus = usable_cpus() if cpus is None else cpus
        self.contended = engine_cpu_threads >= cpus > 0
        self._cpu_at = self.cpu_clock()
        return self.interval

    def after_frame(self) -> float:
        """A repaint was just queued: the delay before the next one."""
        now = self.cpu_clock()
        used = now - self._cpu_at if self._cpu_at is not None else 0.0
        self._cpu_at = now
        if not self.contended:
            return self.interval
        return min(self.max_interval, max(self.interval, used / self.budget))
