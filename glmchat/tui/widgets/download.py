"""The first-run download panel: which quant, how big, whether it fits; then progress per file
(and in total for split quants) with bytes, speed and ETA; Download / Cancel buttons."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, ProgressBar, Static

from glmchat.terminal_text import visible
from glmchat.units import size_text as human_bytes  # one unit (GiB/MiB/KiB) across glmchat


def human_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


@dataclass
class FileState:
    path: str
    size: int
    done: int = 0


@dataclass
class DownloadOffer:
    """What is about to be downloaded (filled on the download thread, shown on the UI thread)."""

    quant: str
    files: list[FileState]
    total: int
    fits_note: str = ""


@dataclass
class DownloadSnapshot:
    files: list[FileState] = field(default_factory=list)
    done: int = 0
    total: int = 0
    speed: float = 0.0  # bytes per second over this run (resumed bytes not counted)
    eta: float | None = None
    finished: bool = False


class DownloadPanel(Vertical, can_focus=False):
    """Shown above the chat during a first-run download. Posts `Decided(True/False)`."""

    BINDINGS = [Binding("escape", "cancel", "Cancel download", show=False)]

    class Decided(Message):
        def __init__(self, start: bool) -> None:
            super().__init__()
            self.start = start

    def __init__(self, offer: DownloadOffer, **kw) -> None:
        super().__init__(**kw)
        self.offer = offer
        self.started = False
        self.cancelled = False

    def compose(self) -> ComposeResult:
        o = self.offer
        shards = f" in {len(o.files)} files" if len(o.files) > 1 else ""
        yield Static("First run: no GLM-4.7-Flash model is downloaded yet.", classes="download-title", markup=False)
        yield Static(
            visible(f"Recommended for this machine: {o.quant} · {human_bytes(o.total)}{shards}" + (f" · {o.fits_note}" if o.fits_note else "")),
            classes="download-offer",
            markup=False,
        )
        for i, f in enumerate(o.files):  # the name above its bar: a long name leaves the figures room
            yield Static(visible(f.path.rsplit("/", 1)[-1]), classes="download-name", markup=False)
            with Horizontal(classes="download-row"):
                yield ProgressBar(total=max(f.size, 1), show_eta=False, id=f"dl-bar-{i}")
                yield Static("", id=f"dl-text-{i}", classes="download-figures", markup=False)
        if len(o.files) > 1:
            yield Static(f"total ({len(o.files)} files)", classes="download-name", markup=False)
            with Horizontal(classes="download-row"):
                yield ProgressBar(total=max(o.total, 1), show_eta=False, id="dl-bar-total")
                yield Static("", id="dl-text-total", classes="download-figures", markup=False)
        with Horizontal(classes="dialog-buttons"):
            yield Button("Download (Enter)", id="dl-start", variant="primary", compact=True)
            yield Button("Cancel (Esc)", id="dl-cancel", compact=True)
        yield Static(
            "The download resumes where it stopped if cancelled. Other quants: `glmchat models`, `glmchat --quant NAME`.",
            classes="download-note",
            markup=False,
        )

    def on_mount(self) -> None:
        self.query_one("#dl-start", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "dl-start":
            self.action_start()
        else:
            self.action_cancel()

    def action_start(self) -> None:
        if self.started or self.cancelled or not self.is_attached:
            return
        self.started = True
        for button in self.query("#dl-start").results(Button):
            button.display = False
        self.post_message(self.Decided(True))  # the screen gives the input the focus back

    def action_cancel(self) -> None:
        # a key press can still arrive while the finished panel is being removed: then it is moot
        if self.cancelled or not self.is_attached:
            return
        self.cancelled = True
        for button in self.query("#dl-cancel").results(Button):
            button.label = "Cancelling…"
            button.disabled = True
        for button in self.query("#dl-start").results(Button):
            button.display = False
        self.post_message(self.Decided(False))

    def show_progress(self, snap: DownloadSnapshot) -> None:
        """Update bars and figures from a snapshot taken on the download thread."""
        speed = f"{human_bytes(snap.speed)}/s" if snap.speed else "–"
        for i, f in enumerate(snap.files):
            self.query_one(f"#dl-bar-{i}", ProgressBar).update(progress=f.done)
            remaining = f.size - f.done
            eta = remaining / snap.speed if snap.speed and remaining > 0 else (0.0 if remaining <= 0 else None)
            self.query_one(f"#dl-text-{i}", Static).update(
                f"{human_bytes(f.done)} / {human_bytes(f.size)} · {speed} · ETA {human_eta(eta)}"
            )
        if len(snap.files) > 1:
            self.query_one("#dl-bar-total", ProgressBar).update(progress=snap.done)
            self.query_one("#dl-text-total", Static).update(
                f"{human_bytes(snap.done)} / {human_bytes(snap.total)} · {speed} · ETA {human_eta(snap.eta)}"
            )
