"""The status bar reports the last turn's speculative decoding: tokens drafted and accepted, next to tok/s."""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Iterator
from typing import Any

from glmchat.engine.base import Finished
from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.widgets.status import StatusBar, StatusInfo
from tests.tui_support import make_app, send, wait_for, wait_ready


class DraftingEngine(ScriptedEngine):
    """A scripted engine whose turns report speculative figures, one (drafted, accepted) pair per turn."""

    def __init__(self, counts: list[tuple[int, int]], **kw: Any) -> None:
        super().__init__(scripts=["</think>first answer", "</think>second answer"], **kw)
        self.counts = list(counts)

    def stream(self, request, cancel=None) -> Iterator[Any]:
        drafted, accepted = self.counts.pop(0)
        for item in super().stream(request, cancel):
            if isinstance(item, Finished):
                item = Finished(replace(item.usage, draft_tokens=drafted, accepted_draft_tokens=accepted))
            yield item


async def test_a_turn_that_drafted_shows_accepted_of_drafted_next_to_the_speed(tmp_path):
    app = make_app(tmp_path, engine=DraftingEngine([(530, 412), (0, 0)]))
    async with app.run_test(size=(180, 30)) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "repeat the code")
        status = app.chat_screen.status
        await wait_for(pilot, lambda: status.info.last_drafted == 530)
        line = str(status.status_text())
        assert "spec 412/530 accepted" in line, line
        assert line.index("tok/s") < line.index("spec 412/530"), line  # next to the speed figure
        # a turn that drafted nothing clears the figure rather than keeping the last turn's
        await send(pilot, app, "now something new")
        await wait_for(pilot, lambda: status.info.last_drafted == 0)
        assert "spec" not in str(status.status_text())


def test_speculative_figures_shorten_with_the_line():
    info = StatusInfo(model="GLM-4.7-Flash", quant="UD-Q4_K_XL", backend="CUDA 47/47 layers", profile="general",
                      thinking="on", ctx_used=1000, ctx_total=16384, last_ttft=0.3, last_tps=88.5,
                      last_drafted=530, last_accepted=412)
    bar = StatusBar()
    bar.info = info
    levels = [str(bar._line(level)) for level in range(5)]
    assert "88.5 tok/s, spec 412/530 accepted" in levels[0]
    assert "88.5 tok/s, spec 412/530" in levels[1] and "accepted" not in levels[1]
    assert "88.5 tok/s, spec 78%" in levels[3]
    assert "spec" not in levels[4]  # the narrowest line keeps the speed only
    assert all(len(a) >= len(b) for a, b in zip(levels, levels[1:]))
    bar.info = replace(info, last_drafted=0, last_accepted=0)
    assert "spec" not in str(bar._line(0))
