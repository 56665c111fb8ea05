"""The session owns "one stream at a time" on its engine: a turn cancels a title being written and
waits for it; switching conversations waits for a running turn. No front end has to arrange it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from glmchat.engine.base import CancelToken
from glmchat.engine.scripted import ScriptedEngine
from glmchat.session import ChatSession, TurnFinished
from glmchat.settings import load_settings
from glmchat.store import Store


@dataclass
class OverlapWatchingEngine(ScriptedEngine):
    """A slow scripted engine that records how many streams ran at once."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.active = 0
        self.most_at_once = 0
        self._count = threading.Lock()

    def stream(self, request, cancel=None):
        with self._count:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        try:
            yield from super().stream(request, cancel)
        finally:
            with self._count:
                self.active -= 1


def _session(tmp_path, engine):
    settings = load_settings()
    settings.chat.model_titles = True
    return ChatSession(engine, settings, store=Store(tmp_path / "c.db"))


def test_a_turn_cancels_the_title_being_written_and_never_overlaps_it(tmp_path):
    engine = OverlapWatchingEngine(scripts=["</think>first answer", "a long title " * 200, "</think>second answer"], delay=0.01, chunk_chars=2)
    session = _session(tmp_path, engine)
    list(session.send("hello"))
    assert session.wants_model_title()

    title_cancel = CancelToken()
    title_done = threading.Event()
    threading.Thread(target=lambda: (session.generate_title(title_cancel), title_done.set()), daemon=True).start()
    deadline = time.monotonic() + 5
    while engine.calls < 2 and time.monotonic() < deadline:  # the title is streaming
        time.sleep(0.005)

    started = time.monotonic()
    events = list(session.send("and then?"))
    assert title_cancel.cancelled  # the turn went first
    assert title_done.wait(5)
    assert time.monotonic() - started < 5  # far less than the ~12 s the whole title would take
    assert engine.most_at_once == 1
    finished = [e for e in events if isinstance(e, TurnFinished)]
    assert finished and finished[0].answer == "second answer"


def test_switching_conversations_waits_for_the_running_turn(tmp_path):
    engine = OverlapWatchingEngine(scripts=["</think>" + "word " * 60], delay=0.005, chunk_chars=4)
    session = _session(tmp_path, engine)
    list(session.send("first conversation"))
    first = session.conversation_id

    turn_started = threading.Event()
    order: list[str] = []

    def turn() -> None:
        for ev in session.send("a long answer please"):
            turn_started.set()
        order.append("turn finished")

    worker = threading.Thread(target=turn, daemon=True)
    worker.start()
    assert turn_started.wait(5)
    session.new()  # from another thread, mid-turn: must wait, not pull the conversation away
    order.append("new conversation")
    worker.join(5)
    assert order == ["turn finished", "new conversation"]
    assert session.conversation_id is None
    assert [m.role for m in Store(tmp_path / "c.db").messages(first)] == ["user", "assistant", "user", "assistant"]
