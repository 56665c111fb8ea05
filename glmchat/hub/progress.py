"""Download progress: the callback protocol, and a rich implementation drawing bars on stderr.

The downloader calls, in order: `on_start(files, total_bytes)`; per file `on_resume(path, nbytes)`
when bytes were already on disk, `on_advance(path, nbytes)` as data arrives and `on_file_done(path)`;
finally `on_done()` — also after a failure or cancel, so displays can close. The TUI passes its own.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from glmchat.hub.catalog import HubFile


class DownloadProgress:
    """No-op base: subclass and override what you need."""

    def on_start(self, files: Sequence["HubFile"], total_bytes: int) -> None: ...

    def on_resume(self, path: str, nbytes: int) -> None:
        """`nbytes` of `path` were already downloaded (counted once, not as transfer speed)."""
        self.on_advance(path, nbytes)

    def on_advance(self, path: str, nbytes: int) -> None: ...

    def on_file_done(self, path: str) -> None: ...

    def on_done(self) -> None: ...


class RichProgress(DownloadProgress):
    """Per-file bars (plus a total bar for split quants): bytes, speed, ETA.

    On a terminal the bars redraw live. When stderr is not a terminal (logs, CI, pipes) a plain
    snapshot of the bars is printed every `interval` seconds and when each file finishes, so
    headless runs still show progress.
    """

    def __init__(self, console: Any | None = None, interval: float = 2.0) -> None:
        self._console = console
        self.interval = interval
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._total: Any = None
        self._live = False
        self._last_print = 0.0
        self._dirty = False

    def on_start(self, files: Sequence["HubFile"], total_bytes: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.text import Text

        from glmchat.units import size_text

        class SpeedColumn(TransferSpeedColumn):  # MiB/s like every size glmchat shows (rich's is decimal)
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text("?" if speed is None else f"{size_text(speed)}/s", style="progress.data.speed")

        console = self._console or Console(file=sys.stderr, highlight=False)
        if self._console is None and not console.is_terminal and console.width < 120:
            console.width = 120  # log lines: room for name, bar, bytes, speed and ETA on one line
        self._live = console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),  # GiB/MiB like the rest of glmchat
            SpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=self._live,
            transient=False,
        )
        self._tasks = {f.path: self._progress.add_task(f.path.rsplit("/", 1)[-1], total=f.size) for f in files}
        if len(files) > 1:
            self._total = self._progress.add_task(f"total ({len(files)} files)", total=total_bytes)
        if self._live:
            self._progress.start()
        else:
            self._snapshot(force=True)

    def on_resume(self, path: str, nbytes: int) -> None:
        if self._progress is None:
            return
        self._progress.reset(self._tasks[path], completed=nbytes)
        if self._total is not None:
            done = self._task(self._total).completed
            self._progress.reset(self._total, completed=int(done) + nbytes)

    def on_advance(self, path: str, nbytes: int) -> None:
        if self._progress is None:
            return
        self._progress.advance(self._tasks[path], nbytes)
        if self._total is not None:
            self._progress.advance(self._total, nbytes)
        self._dirty = True
        self._snapshot()

    def on_file_done(self, path: str) -> None:
        if self._progress is None:
            return
        task = self._task(self._tasks[path])
        self._progress.update(self._tasks[path], completed=task.total)
        self._snapshot(force=True)

    def on_done(self) -> None:
        if self._progress is None:
            return
        if self._live:
            self._progress.stop()
        elif self._dirty:
            self._snapshot(force=True)
        self._progress = None

    def _task(self, task_id: Any) -> Any:
        return next(t for t in self._progress.tasks if t.id == task_id)

    def _snapshot(self, force: bool = False) -> None:
        if self._live:
            return
        now = time.monotonic()
        if force or now - self._last_print >= self.interval:
            self._last_print = now
            self._dirty = False
            self._progress.console.print(self._progress.get_renderable())
