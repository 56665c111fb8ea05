"""How often the chat pane repaints while a turn streams.

A repaint (Markdown parse, layout, compositing) costs the UI thread a few milliseconds, and every
millisecond of it can slow a model that runs in this process:

- When the engine's threads occupy every core (a model on the CPU), the time the UI thread runs is
  taken from one of llama.cpp's threads, and because those threads wait for each other after every
  layer, the whole generation slows down by about as much. The pacer then holds the UI to `budget`
  (2%) of one core.
- With a core to spare, the UI still shares the GIL with the model's thread, which needs it for a
  moment after every token: 30 repaints a second cost ~5% of generation speed even so. The pacer
  holds the UI to `spare_budget` (15%) of one core.
- A model elsewhere (a remote server) costs nothing here: `interval` (30 a second).

After each repaint the pacer measures the UI thread's CPU time since the previous one and waits
that long divided by the budget before the next (between `interval` and `max_interval`, so the
stream keeps moving).
"""

from __future__ import annotations

import time
from typing import Callable

from glmchat.engine.devices import usable_cpus


class FramePacer:
    """Spaces the repaints of a stream; call `start` when a turn begins and `after_frame` after each."""

    def __init__(
        self,
        interval: float = 1 / 30,
        budget: float = 0.02,
        max_interval: float = 1.0,
        cpu_clock: Callable[[], float] = time.thread_time,
        spare_budget: float = 0.15,
    ) -> None:
        self.interval = interval
        self.budget = budget
        self.spare_budget = spare_budget
        self.max_interval = max(max_interval, interval)
        self.cpu_clock = cpu_clock
        self.contended = False  # the model's threads fill every core
        self.local = False  # the model runs in this process
        self._cpu_at: float | None = None

    def start(self, engine_cpu_threads: int, cpus: int | None = None) -> float:
        """A turn begins. Returns the delay before the first repaint."""
        cpus = usable_cpus() if cpus is None else cpus
        self.local = engine_cpu_threads > 0
        self.contended = engine_cpu_threads >= cpus > 0
        self._cpu_at = self.cpu_clock()
        return self.interval

    @property
    def current_budget(self) -> float | None:
        """The share of one core the UI may use now (None: no limit)."""
        if self.contended:
            return self.budget
        return self.spare_budget if self.local else None

    def after_frame(self) -> float:
        """A repaint was just queued: the delay before the next one."""
        now = self.cpu_clock()
        used = now - self._cpu_at if self._cpu_at is not None else 0.0
        self._cpu_at = now
        budget = self.current_budget
        if budget is None:
            return self.interval
        return min(self.max_interval, max(self.interval, used / budget))
