"""The engine's progress through a long prompt reaches the front ends as `PromptProgressed` events,
before the first text; a cancel while the prompt is read ends the turn as cancelled, with no answer."""

from __future__ import annotations

from glmchat.engine.base import CancelToken
from glmchat.engine.scripted import ScriptedEngine
from glmchat.session import ChatSession
from glmchat.session_events import Answer, PromptProgressed, Thinking, TurnFinished, TurnStarted
from glmchat.settings import load_settings


def test_prompt_progress_comes_between_the_turn_start_and_the_first_text():
    session = ChatSession(ScriptedEngine(["Hmm.</think>Done."], prompt_chunks=3), load_settings())
    events = list(session.send("hello"))
    started = next(i for i, e in enumerate(events) if isinstance(e, TurnStarted))
    first_text = next(i for i, e in enumerate(events) if isinstance(e, (Thinking, Answer)))
    progress = [e for e in events if isinstance(e, PromptProgressed)]
    assert len(progress) == 2 and all(started < events.index(p) < first_text for p in progress)
    assert progress[0].total == events[started].prompt_tokens and progress[0].done < progress[1].done < progress[0].total
    assert isinstance(events[-1], TurnFinished) and events[-1].status == "complete" and events[-1].answer == "Done."


def test_cancel_while_the_prompt_is_read_ends_the_turn_cancelled():
    session = ChatSession(ScriptedEngine(["Hmm.</think>Never."], prompt_chunks=4), load_settings())
    cancel = CancelToken()
    events = []
    for ev in session.send("hello", cancel):
        events.append(ev)
        if isinstance(ev, PromptProgressed):
            cancel.cancel()
    assert not [e for e in events if isinstance(e, (Thinking, Answer))]
    assert isinstance(events[-1], TurnFinished) and events[-1].status == "cancelled"
    assert sum(isinstance(e, PromptProgressed) for e in events) == 1


def test_compaction_passes_prompt_progress_on():
    engine = ScriptedEngine(["</think>a1", "</think>a2", "</think>Summary of the start."], prompt_chunks=2)
    session = ChatSession(engine, load_settings())
    list(session.send("one"))
    list(session.send("two"))
    events = list(session.compact())
    assert any(isinstance(e, PromptProgressed) for e in events)
