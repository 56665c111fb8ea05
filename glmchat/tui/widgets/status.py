"""The status bar: model, backend, profile, thinking mode, agent mode, context gauge, speed figures."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from glmchat.terminal_text import visible

WARN_FRACTION = 0.8
MODE_LABELS = {"plan": ("plan mode", "plan"), "accept-edits": ("accept edits", "edits")}  # (wide, narrow)


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
    last_drafted: int = 0  # speculative decoding in the last turn: tokens drafted …
    last_accepted: int = 0  # … and accepted (glmchat.engine.base.Usage)
    tools: bool = False  # the model may call tools
    mode: str = "default"  # agent mode (glmchat.tools.modes): shown unless "default"
    state: str = ""  # "loading 42%", "ready", "generating", "load failed"


def context_bar(used: int, total: int, cells: int = 10) -> str:
    if total <= 0:
        return "▱" * cells
    filled = min(cells, round(cells * used / total))
    return "▰" * filled + "▱" * (cells - filled)


def shorten(text: str, cells: int) -> str:
    """`text` cut to `cells` characters with an ellipsis (the whole text when it fits)."""
    return text if len(text) <= cells else text[: max(cells - 1, 0)].rstrip() + "…"


def speculation_text(accepted: int, drafted: int, level: int) -> str:
    """The last turn's speculative figures next to its speed: ', spec 412/530 accepted' (level 0),
    ', spec 412/530' (levels 1–2), ', spec 78%' (3); nothing at the narrowest line or when nothing was drafted."""
    if drafted <= 0 or level >= 4:
        return ""
    if level == 0:
        return f", spec {accepted:,}/{drafted:,} accepted"
    if level < 3:
        return f", spec {accepted:,}/{drafted:,}"
    return f", spec {100 * accepted / drafted:.0f}%"


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

    def status_text(self, width: int | None = None) -> Text:
        """The line, made shorter step by step until it fits `width` cells (None: the full line)."""
        text = self._line(0)
        for level in range(1, 5):
            if width is None or text.cell_len <= width:
                break
            text = self._line(level)
        return text

    def _line(self, level: int) -> Text:
        """Level 0 says everything; 1–4 shorten the model, the plan, the gauge and the speed."""
        i = self.info
        model, backend = visible(i.model), visible(i.backend)  # names from GGUF metadata or a server
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {shorten(model, (40, 22, 16, 10, 10)[level])}", style="bold")
        if i.quant and level < 2:
            t.append(f" {visible(i.quant)}")
        if backend and level < 3:
            t.append(f" · {shorten(backend, (60, 24, 12)[level])}")
        elif backend and level == 3:
            t.append(f" · {shorten(backend.split()[0], 8)}")  # "CUDA", "CPU", "remote"
        if i.profile and level < 4:  # the narrowest line leaves them out (the state, e.g. prompt progress, matters more)
            t.append(f" · {visible(i.profile)}")
        if i.thinking and level < 4:
            t.append(f" · think {i.thinking}")
        mode = MODE_LABELS.get(i.mode)  # plan mode / accept edits, at every width (it decides what runs)
        if i.tools and not (mode and level == 4):  # the narrowest line shows the mode in its place
            t.append(" · tools on", style="bold")
        if mode:
            t.append(f" · {mode[0 if level < 3 else 1]}", style="bold reverse")
        warn = self.ctx_fraction >= WARN_FRACTION
        if i.ctx_total:
            used = min(i.ctx_used, i.ctx_total)  # an estimate may overshoot; never show more than there is
            t.append(" · ctx ")
            if level < 2:
                t.append(context_bar(used, i.ctx_total, 10 if level == 0 else 5), style="bold red" if warn else "")
                t.append(" ")
            if used >= i.ctx_total:
                t.append(f"{used:,}/{i.ctx_total:,} ⚠ full", style="bold red" if level >= 2 else "")
            else:
                t.append(f"{used:,}/{i.ctx_total:,} ({100 * self.ctx_fraction:.0f}%)", style="bold red" if warn and level >= 2 else "")
                if warn:
                    t.append(" ⚠ nearly full" if level == 0 else " ⚠")
        if i.live_tps is not None:
            t.append(f" · {i.live_tps:.1f} tok/s", style="bold")
        elif i.last_tps is not None:
            if level == 0:
                t.append(f" · last: TTFT {i.last_ttft or 0:.2f} s, {i.last_tps:.1f} tok/s")
            else:
                t.append(f" · {i.last_tps:.1f} tok/s")
            t.append(speculation_text(i.last_accepted, i.last_drafted, level))
        if i.state:
            t.append(f" · {visible(i.state)}")
        return t

    def on_resize(self) -> None:
        self.refresh_line()

    def refresh_line(self) -> None:
        self.set_class(self.ctx_fraction >= WARN_FRACTION, "-ctx-warn")
        # one line of a fixed height: a new text never changes the layout, so skip the screen's
        # layout pass (it re-arranges the whole chat, ~10 ms on a slow CPU, once a second while streaming)
        self.update(self.status_text(self.size.width or None), layout=False)
