"""First-run downloads in the TUI: a `glmchat.hub.DownloadProgress` that talks to the UI thread.

The engine factory runs on a loader thread; when the hub has to fetch a quant it calls `on_start`,
which shows the offer (quant, size, fits note) in a `DownloadPanel` and waits for Download or
Cancel. While bytes arrive, snapshots go to the panel at most every `interval` seconds. Cancel sets
`cancel` (a threading.Event); the next chunk then stops the transfer the way Ctrl-C does in the
CLI, so the partial file stays in the cache and the next run resumes it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

from textual.message import Message

from glmchat.hub.progress import DownloadProgress
from glmchat.tui.widgets.download import DownloadOffer, DownloadSnapshot, FileState, human_bytes


class DownloadOffered(Message):
    """The hub must fetch a quant: show the offer and wait for Download or Cancel."""

    def __init__(self, offer: DownloadOffer) -> None:
        super().__init__()
        self.offer = offer


class DownloadProgressed(Message):
    """Bytes arrived (at most every `interval` seconds)."""

    def __init__(self, snapshot: DownloadSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class DownloadFinished(Message):
    """The transfer ended (complete, or stopped with the partial file kept)."""

    def __init__(self, snapshot: DownloadSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


def quant_name(paths: Sequence[str]) -> str:
    """The quant a list of repo file paths belongs to ('UD-Q4_K_XL'), or the first file's name."""
    from glmchat.hub.quant_names import parse_gguf_path

    for p in paths:
        parsed = parse_gguf_path(p)
        if parsed:
            return parsed[0]
    return paths[0].rsplit("/", 1)[-1] if paths else "?"


def fits_note(total_bytes: int, n_ctx: int) -> str:
    """'fits: needs about 19.2 GiB of 62.8 GiB memory' (RAM plus GPU memory), or a warning."""
    from glmchat.hub.fit import COMPUTE_OVERHEAD, kv_cache_bytes, system_ram_bytes

    need = total_bytes + kv_cache_bytes(n_ctx) + COMPUTE_OVERHEAD
    have = system_ram_bytes()
    try:
        from glmchat.engine.devices import detect

        machine = detect()
        if machine.gpu_offload:
            have += machine.vram_total
    except Exception:
        pass
    if not have:
        return f"needs about {human_bytes(need)} of memory"
    if need <= have:
        return f"fits: needs about {human_bytes(need)} of {human_bytes(have)} memory (context {n_ctx:,})"
    return f"⚠ tight: needs about {human_bytes(need)}, this machine has {human_bytes(have)} (context {n_ctx:,})"


class TuiDownloadProgress(DownloadProgress):
    """Bridges the downloader's callbacks (loader thread) to the app's download panel (UI thread)."""

    def __init__(self, post: Callable[[Message], Any], n_ctx: int, interval: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.post = post  # posts a message to the UI; raises RuntimeError when the UI has gone
        self.n_ctx = n_ctx
        self.interval = interval
        self.clock = clock
        self.cancel = threading.Event()
        self._decided = threading.Event()
        self._go = False
        self.files: dict[str, FileState] = {}
        self.total = 0
        self._moved = 0  # bytes transferred in this run (speed and ETA)
        self._t0 = 0.0
        self._last_post = 0.0
        self.offered = False

    # ---- UI thread -------------------------------------------------------------------------------

    def decide(self, start: bool) -> None:
        """The user pressed Download (True) or Cancel (False)."""
        self._go = start and not self.cancel.is_set()
        if not start:
            self.cancel.set()
        self._decided.set()

    # ---- loader thread ---------------------------------------------------------------------------

    def snapshot(self, finished: bool = False) -> DownloadSnapshot:
        files = [FileState(f.path, f.size, f.done) for f in self.files.values()]
        done = sum(f.done for f in files)
        elapsed = self.clock() - self._t0 if self._t0 else 0.0
        speed = self._moved / elapsed if elapsed > 0 and self._moved else 0.0
        eta = (self.total - done) / speed if speed else None
        return DownloadSnapshot(files, done, self.total, speed, eta, finished)

    def _send(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_post >= self.interval:
            self._last_post = now
            try:
                self.post(DownloadProgressed(self.snapshot()))
            except RuntimeError:  # the app has gone
                self.cancel.set()

    def on_start(self, files: Sequence[Any], total_bytes: int) -> None:
        from glmchat.hub.errors import DownloadCancelled

        self.files = {f.path: FileState(f.path, int(f.size)) for f in files}
        self.total = int(total_bytes)
        offer = DownloadOffer(quant_name([f.path for f in files]), list(self.files.values()), self.total, fits_note(self.total, self.n_ctx))
        self.offered = True
        try:
            self.post(DownloadOffered(offer))
        except RuntimeError:
            self.cancel.set()
        while not self._decided.wait(0.1):
            if self.cancel.is_set():
                break
        if not self._go:
            raise DownloadCancelled(
                f"Download of GLM-4.7-Flash {offer.quant} cancelled; no model to run.",
                f"Run glmchat again to download it (a partial file resumes), `glmchat download {offer.quant}`, or pass --model PATH.",
            )
        self._t0 = self.clock()

    def on_resume(self, path: str, nbytes: int) -> None:
        f = self.files.get(path)
        if f is not None:
            f.done = nbytes
        self._send()

    def on_advance(self, path: str, nbytes: int) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt  # the downloader's stop signal: trims, keeps the partial file
        f = self.files.get(path)
        if f is not None:
            f.done += nbytes
        self._moved += nbytes
        self._send()

    def on_file_done(self, path: str) -> None:
        f = self.files.get(path)
        if f is not None:
            f.done = f.size
        self._send(force=True)

    def on_done(self) -> None:
        if self.offered:
            try:
                self.post(DownloadFinished(self.snapshot(finished=True)))
            except RuntimeError:
                pass
