"""The attack: `/grep` with a pattern that backtracks catastrophically, while the user keeps typing.

Before issue 14 the search held the GIL for as long as the pattern ran (~7 s here, doubling per
character), so the prompt froze and neither Esc nor Ctrl+Q answered. Now the match releases the GIL
and stops after its time limit: keys reach the prompt at once while it runs, and the block then
says which line was stopped and why.
"""

from __future__ import annotations

import asyncio
import time

from textual import events

from glmchat.tools import Workspace, search
from glmchat.tui.widgets.output_block import OutputBlock
from tests.tui_support import SIZE, make_app, wait_for, wait_ready

LIMIT = 3.0  # seconds /grep may spend on one line in this test (time to type meanwhile)


async def type_key(app, key: str) -> float:
    """Send one key as the terminal would; seconds until the prompt shows it.

    (Not `pilot.press`: it waits for the whole process to go idle, which it is not while grep runs.)
    """
    prompt = app.chat_screen.prompt
    before = prompt.text
    t0 = time.monotonic()
    app.post_message(events.Key(key, key))
    while prompt.text == before and time.monotonic() - t0 < 30:
        await asyncio.sleep(0.005)
    return time.monotonic() - t0


async def test_typing_reaches_the_prompt_while_grep_backtracks(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "LINE_TIMEOUT", LIMIT)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "evil.txt").write_text("a" * 36 + "\n")  # `(a|aa)+b` on it: ~7 s with re, far more with regex
    app = make_app(tmp_path, workspace=Workspace(root))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        prompt = app.chat_screen.prompt
        prompt.load_text("/grep (a|aa)+b")
        prompt.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.chat.query(OutputBlock))
        block = app.chat_screen.chat.query(OutputBlock).last()
        started = time.monotonic()
        await pilot.pause(0.3)  # the search is under way
        lags = [await type_key(app, key) for key in "hello"]
        assert prompt.text == "hello"
        assert max(lags) < 0.5, lags
        assert block.running and time.monotonic() - started < LIMIT  # typed while it ran
        await wait_for(pilot, lambda: not block.running, timeout=LIMIT + 5)
        assert time.monotonic() - started < LIMIT + 3
        assert not block.ok
        assert f"stopped after {LIMIT:g} s on evil.txt:1: it backtracks catastrophically" in block.output
