"""The status bar: model, backend, profile, thinking mode, context gauge, speed figures."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

WARN_FRACTION = 0.8


@dataclass
class StatusInfo:
    model: str = "no model"
    quant: str | None = None
    backend: str = ""
    profile: str = ""
    thinking: str = ""
    ctx_used: int = 0
    ctx_total: int = 0
    live_tps: float | None = None  # while generating
    last_ttft: float | None = None
    last_tps: float | None = None
    tools: bool = False  # the model may call tools
    state: str = ""  # "loading 42%", "ready", "generating", "load failed"


def context_bar(used: int, total: int, cells: int = 10) -> str:
    if total <= 0:
        return "▱" * cells
    filled = min(cells, round(cells * used / total))
    return "▰" * filled + "▱" * (cells - filled)


class StatusBar(Static):
    """One line; `update_info(**changes)` re-renders. Class -ctx-warn from 80 % context."""

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self.info = StatusInfo()

    def on_mount(self) -> None:
        self.refresh_line()

    def update_info(self, **changes) -> None:
        for k, v in changes.items():
            setattr(self.info, k, v)
        self.refresh_line()

    @property
    def ctx_fraction(self) -> float:
        i = self.info
        return min(1.0, i.ctx_used / i.ctx_total) if i.ctx_total else 0.0

    def status_text(self) -> Text:
        i = self.info
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {i.model}", style="bold")
        if i.quant:
            t.append(f" {i.quant}")
        if i.backend:
            t.append(f" · {i.backend}")
        if i.profile:
            t.append(f" · {i.profile}")
        if i.thinking:
            t.append(f" · think {i.thinking}")
        if i.tools:
            t.append(" · tools on", style="bold")
        warn = self.ctx_fraction >= WARN_FRACTION
        if i.ctx_total:
            used = min(i.ctx_used, i.ctx_total)  # an estimate may overshoot; never show more than there is
            t.append(" · ctx ")
            t.append(context_bar(used, i.ctx_total), style="bold red" if warn else "")
            if used >= i.ctx_total:
                t.append(f" {used:,}/{i.ctx_total:,} ⚠ full")
            else:
                t.append(f" {used:,}/{i.ctx_total:,} ({100 * self.ctx_fraction:.0f}%)" + (" ⚠ nearly full" if warn else ""))
        if i.live_tps is not None:
            t.append(f" · {i.live_tps:.1f} tok/s", style="bold")
        elif i.last_tps is not None:
            t.append(f" · last: TTFT {i.last_ttft or 0:.2f} s, {i.last_tps:.1f} tok/s")
        if i.state:
            t.append(f" · {i.state}")
        return t

    def refresh_line(self) -> None:
        self.set_class(self.ctx_fraction >= WARN_FRACTION, "-ctx-warn")
        self.update(self.status_text())
