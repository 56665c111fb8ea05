"""/rewind in the session: the conversation back to before a turn (memory and store), files restored."""

from __future__ import annotations

import stat

from glmchat import rewind
from glmchat.engine.scripted import ScriptedEngine
from glmchat.session import Approval, ChatSession
from glmchat.settings import load_settings
from glmchat.store import Store
from glmchat.tools import ToolRegistry, Workspace


def write(path: str, content: str) -> str:
    return (f"</think><tool_call>write_file<arg_key>path</arg_key><arg_value>{path}</arg_value>"
            f"<arg_key>content</arg_key><arg_value>{content}</arg_value></tool_call>")


def edit(path: str, old: str, new: str) -> str:
    return (f"</think><tool_call>edit_file<arg_key>path</arg_key><arg_value>{path}</arg_value>"
            f"<arg_key>old_string</arg_key><arg_value>{old}</arg_value>"
            f"<arg_key>new_string</arg_key><arg_value>{new}</arg_value></tool_call>")


def make(tmp_path, scripts, store=None, conversation_id=None):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    store = store if store is not None else Store(tmp_path / "data" / "conversations.db")
    s = ChatSession(ScriptedEngine(scripts), load_settings(), store=store, tools=ToolRegistry.builtin(),
                    tools_enabled=True, workspace=Workspace(ws), approver=lambda *a: Approval("allow_once"),
                    conversation_id=conversation_id)
    return s, ws, store


def two_turns(tmp_path):
    """Turn 1 writes app.py; turn 2 edits it and creates new.txt."""
    s, ws, store = make(tmp_path, [
        write("app.py", "x = 1\n"), "</think>Wrote it.",
        edit("app.py", "x = 1", "x = 2"), write("new.txt", "fresh\n"), "</think>Edited it.",
    ])
    list(s.send("write app.py"))
    list(s.send("change x and add new.txt"))
    assert (ws / "app.py").read_text() == "x = 2\n" and (ws / "new.txt").exists()
    return s, ws, store


def test_rewind_to_turn_two_restores_the_file_and_the_conversation(tmp_path):
    s, ws, store = two_turns(tmp_path)
    turns = rewind.turns(s)
    assert [t.number for t in turns] == [1, 2] and "change x" in turns[1].label
    turn1_end = len([m for m in s.messages[: turns[1].index]])
    removed, files = rewind.preview(s, turns[1].index)
    assert removed == len(s.messages) - turns[1].index and sorted(files) == sorted([str(ws / "app.py"), str(ws / "new.txt")])

    result = rewind.rewind(s, turns[1].index, restore_files=True)

    assert result.text == "change x and add new.txt" and result.removed == removed
    assert (ws / "app.py").read_text() == "x = 1\n"  # as it was before turn 2
    assert not (ws / "new.txt").exists()  # created after the point: deleted
    assert sorted(result.files.restored) == sorted(files) and not result.files.skipped
    assert len(s.undo_log) == 1  # turn 1's write is still the last change /undo takes back
    assert len(s.messages) == turn1_end and s.messages[-1]["content"] == "Wrote it."
    cid = s.conversation_id
    store.close()
    reopened = Store(tmp_path / "data" / "conversations.db")
    rows = reopened.messages(cid)
    assert [r.role for r in rows] == [m["role"] for m in s.messages]
    assert rows[-1].content == "Wrote it." and [r.content for r in rows if r.role == "user"] == ["write app.py"]


def test_rewind_to_the_first_turn_empties_the_conversation_and_removes_created_files(tmp_path):
    s, ws, store = two_turns(tmp_path)
    result = rewind.rewind(s, rewind.turns(s)[0].index, restore_files=True)
    assert s.messages == [] and store.messages(s.conversation_id) == []
    assert not (ws / "app.py").exists() and not (ws / "new.txt").exists()
    assert result.files is not None and len(result.files.restored) == 2


def test_conversation_only_leaves_files_and_a_later_rewind_still_reaches_them(tmp_path):
    s, ws, _ = two_turns(tmp_path)
    result = rewind.rewind(s, rewind.turns(s)[1].index, restore_files=False)
    assert result.files is None and len(result.kept_files) == 2
    assert (ws / "app.py").read_text() == "x = 2\n" and (ws / "new.txt").exists()
    # the changes of the dropped turn now count as turn 1's: rewinding turn 1 takes everything back
    result = rewind.rewind(s, rewind.turns(s)[0].index, restore_files=True)
    assert not (ws / "app.py").exists() and not (ws / "new.txt").exists() and not result.files.skipped


def test_a_file_changed_by_hand_afterwards_is_skipped_with_a_notice(tmp_path):
    s, ws, _ = two_turns(tmp_path)
    (ws / "app.py").write_text("x = 99  # mine\n")
    result = rewind.rewind(s, rewind.turns(s)[1].index, restore_files=True)
    assert (ws / "app.py").read_text() == "x = 99  # mine\n"  # the user's work is kept
    assert [p for p, _ in result.files.skipped] == [str(ws / "app.py")]
    assert "changed after the tool wrote it" in result.files.skipped[0][1]
    assert "Not restored" in result.summary() and "Restored 1 file" in result.summary()
    assert not (ws / "new.txt").exists()


def test_a_file_deleted_since_comes_back(tmp_path):
    s, ws, _ = two_turns(tmp_path)
    (ws / "app.py").unlink()
    result = rewind.rewind(s, rewind.turns(s)[1].index, restore_files=True)
    assert (ws / "app.py").read_text() == "x = 1\n" and not result.files.skipped


def test_snapshots_survive_reopening_and_are_private(tmp_path):
    s, ws, store = two_turns(tmp_path)
    cid = s.conversation_id
    folder = tmp_path / "data" / "file-history" / str(cid)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.rglob("*") if p.is_file())
    store.close()
    # a new process: a new store and session on the same conversation
    s2, _, _ = make(tmp_path, [], store=Store(tmp_path / "data" / "conversations.db"), conversation_id=cid)
    result = rewind.rewind(s2, rewind.turns(s2)[1].index, restore_files=True)
    assert (ws / "app.py").read_text() == "x = 1\n" and not (ws / "new.txt").exists()
    assert len(result.files.restored) == 2


def test_a_symlink_swapped_in_does_not_redirect_the_restore(tmp_path):
    s, ws, _ = two_turns(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("x = 2\n")
    (ws / "app.py").unlink()
    (ws / "app.py").symlink_to(outside)  # reads as the tool's content, but leads out of the workspace
    result = rewind.rewind(s, rewind.turns(s)[1].index, restore_files=True)
    assert outside.read_text() == "x = 2\n"  # never written through
    assert str(ws / "app.py") in [p for p, _ in result.files.skipped]


def test_a_file_too_big_to_snapshot_is_said_at_once_and_at_rewind(tmp_path, monkeypatch):
    monkeypatch.setattr("glmchat.tools.file_history.MAX_SNAPSHOT_BYTES", 4)
    s, ws, _ = make(tmp_path, [edit("big.txt", "one", "two"), "</think>ok."])
    (ws / "big.txt").write_text("one two three\n")
    events = list(s.send("edit big.txt"))
    assert any("too big to snapshot" in getattr(e, "text", "") for e in events)
    result = rewind.rewind(s, 0, restore_files=True)
    assert (ws / "big.txt").read_text() == "two two three\n"
    assert "too big to snapshot" in result.files.skipped[0][1]


def test_after_compact_the_summary_is_no_turn_and_survives_a_rewind(tmp_path):
    s, _ws, store = make(tmp_path, [
        "</think>One.", "</think>Two.", "</think>Three.", "</think>Old talk about one and two.",
    ])
    for text in ("first", "second", "third"):
        list(s.send(text))
    list(s.compact(keep_last_turns=2))
    assert s.messages[0]["content"].startswith("Summary of the earlier conversation")
    turns = rewind.turns(s)
    assert [t.text for t in turns] == ["second", "third"]
    rewind.rewind(s, turns[0].index)
    cid = s.conversation_id
    store.close()
    s2, _, _ = make(tmp_path, [], store=Store(tmp_path / "data" / "conversations.db"), conversation_id=cid)
    assert s2.messages == s.messages and "Old talk" in s2.messages[0]["content"] and len(s2.messages) == 2


def test_deleting_a_conversation_removes_its_file_history(tmp_path):
    """The snapshots are copies of the user's files: they go with the conversation, and only its own."""
    from glmchat.history import History

    s, ws, store = two_turns(tmp_path)
    cid = s.conversation_id
    other, _, _ = make(tmp_path, [write("b.txt", "b\n"), "</think>Done."], store=store)
    list(other.send("write b.txt"))
    folders = tmp_path / "data" / "file-history"
    assert (folders / str(cid)).is_dir() and (folders / str(other.conversation_id)).is_dir()
    History(store).delete(cid)
    assert not (folders / str(cid)).exists()
    assert (folders / str(other.conversation_id) / "index.jsonl").is_file()
