"""A file name that is not UTF-8, through a turn: no traceback, no empty conversation (issue 14, point 7).

The attack: a workspace file named with the bytes b"caf\\xe9.txt" (Latin-1), listed by the model's
list_dir call. Python carries the name as "caf\\udce9.txt"; storing the tool result raised
UnicodeEncodeError, and the conversation created for the turn was left behind empty "(untitled)".
Now the text is carried with U+FFFD, in the store and in what the engine is sent next.
"""

from __future__ import annotations

import os

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.session import ChatSession, ToolResultEvent, TurnFinished
from glmchat.settings import load_settings
from glmchat.store import Store, StoreError
from glmchat.tools import ToolRegistry, Workspace

LIST = "Look.</think><tool_call>list_dir<arg_key>path</arg_key><arg_value>.</arg_value></tool_call>"
DONE = "Seen.</think>There is one file."


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    os.close(os.open(os.path.join(os.fsencode(ws), b"caf\xe9.txt"), os.O_CREAT | os.O_WRONLY, 0o600))
    return ws


def test_a_tool_result_naming_a_non_utf8_file_is_stored_and_sent_on(tmp_path, workspace):
    store = Store(tmp_path / "c.db")
    engine = ScriptedEngine([LIST, DONE])
    s = ChatSession(engine, load_settings(), store=store, tools=ToolRegistry.builtin(), tools_enabled=True,
                    workspace=Workspace(workspace))
    events = list(s.send("which files are there?"))
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "There is one file."
    assert any(isinstance(e, ToolResultEvent) and e.ok for e in events)
    tool_text = [m for m in store.messages(s.conversation_id) if m.role == "tool"][0].content
    assert "caf\ufffd.txt" in tool_text
    sent = engine.requests[1].messages[-1]["content"]  # what the model gets back
    assert "caf\ufffd.txt" in sent and sent.encode("utf-8")  # an engine can encode it
    assert [c.title for c in store.list_conversations()] == ["which files are there?"]


def test_a_prompt_carrying_such_a_name_starts_a_titled_conversation(tmp_path):
    store = Store(tmp_path / "c.db")
    s = ChatSession(ScriptedEngine(["No.</think>No such file."]), load_settings(), store=store)
    events = list(s.send("summarise caf\udce9.txt"))
    assert isinstance(events[-1], TurnFinished)
    assert [c.title for c in store.list_conversations()] == ["summarise caf\ufffd.txt"]


def test_a_turn_failing_before_anything_is_stored_leaves_no_empty_conversation(tmp_path, monkeypatch):
    store = Store(tmp_path / "c.db")
    s = ChatSession(ScriptedEngine(["Hi.</think>Hello.", "Hi.</think>Hello."]), load_settings(), store=store)

    def full_disk(*args, **kwargs):
        raise StoreError("Cannot write c.db: the disk is full.", "Free some space and try again.")

    with monkeypatch.context() as m:
        m.setattr(store, "add_message", full_disk)
        with pytest.raises(StoreError):
            list(s.send("hello"))
    assert store.list_conversations() == [] and s.conversation_id is None and s.messages == []
    events = list(s.send("hello again"))  # the next turn starts cleanly
    assert isinstance(events[-1], TurnFinished)
    assert [(c.title, c.message_count) for c in store.list_conversations()] == [("hello again", 2)]
