"""Helpers for the TUI tests: build a GlmchatApp on a scripted engine and a temp store, wait for turns."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from glmchat.engine.base import Finished, Usage
from glmchat.engine.scripted import ScriptedEngine
from glmchat.history import History
from glmchat.settings import load_settings
from glmchat.store import Store
from glmchat.tui.app import GlmchatApp
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock

FIXED_NOW = 1_750_000_000.0
SIZE = (110, 36)  # the terminal most pilot tests run in

# thinking, then an answer with a code block, a list and a table
MIXED = (
    "The user wants code. I will write a function.</think>"
    "Here is a function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


class FixedUsageEngine(ScriptedEngine):
    """A scripted engine whose usage figures are constant (for deterministic snapshots)."""

    def stream(self, request, cancel=None) -> Iterator[Any]:
        for item in super().stream(request, cancel):
            if isinstance(item, Finished):
                item = Finished(
                    replace(item.usage, time_to_first_token=0.25, generation_time=1.0, generation_tokens_per_second=42.0, prompt_time=0.25)
                )
            yield item


def engine_with(info_changes: dict, **kw) -> ScriptedEngine:
    """A scripted engine answering "ok" whose EngineInfo has `info_changes` applied."""
    engine = ScriptedEngine(scripts=["</think>ok"], **kw)
    for k, v in info_changes.items():
        setattr(engine.info, k, v)
    return engine


def make_app(
    tmp_path: Path,
    scripts: list[str] | None = None,
    *,
    engine: Any = None,
    store: Any = None,
    settings: Any = None,
    factory: Any = None,
    **kw: Any,
) -> GlmchatApp:
    engine = engine or ScriptedEngine(scripts=scripts or ["Let me think.</think>Hello! How can I help?"])
    store = store if store is not None else Store(tmp_path / "conversations.db")
    settings = settings or load_settings()
    kw.setdefault("system_clipboard", False)
    history = None if store is False else History(store)  # store=False: history is off (--no-history)
    return GlmchatApp(settings, engine_factory=factory or (lambda progress: engine), history=history, **kw)


async def wait_for(pilot, predicate, timeout: float = 10.0, step: float = 0.02) -> None:
    """Pump the app until `predicate()` is true (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(step)


async def wait_ready(pilot, app: GlmchatApp) -> None:
    await wait_for(pilot, lambda: app.chat_screen.session is not None or app.chat_screen.load_error is not None)


async def send(pilot, app: GlmchatApp, text: str, timeout: float = 10.0) -> None:
    """Type `text` into the prompt, press Enter and wait until the turn has been rendered."""
    before = app.chat_screen.turns.turns_done
    app.chat_screen.prompt.load_text(text)
    app.chat_screen.prompt.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.chat_screen.turns.turns_done > before, timeout)
    await pilot.pause()


def errors(app) -> list[ErrorBlock]:
    """The error blocks in the chat, oldest first."""
    return list(app.chat_screen.chat.query(ErrorBlock))


def notices(app) -> list[str]:
    """The texts of the notices in the chat, oldest first."""
    return [n.text for n in app.chat_screen.chat.query(NoticeBlock)]
