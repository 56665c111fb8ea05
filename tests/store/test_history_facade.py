"""glmchat.history.History: the conversation operations `glmchat history` and the TUI share."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glmchat.errors import GlmchatError, UsageError
from glmchat.history import EXPORT_HINT, History
from glmchat.store import ImportFormatError, NotFoundError, Store, StoreError


@pytest.fixture
def history(isolated_dirs):
    with History() as h:
        yield h


@pytest.fixture
def two(history) -> dict[str, int]:
    s = history.store
    a = s.create_conversation(model="GLM-4.7-Flash")
    s.add_message(a.id, "user", "What is the capital of France?")
    s.add_message(a.id, "assistant", "Paris.", reasoning="Geography basics.")
    b = s.create_conversation(title="Rust lifetimes")
    s.add_message(b.id, "user", "Explain borrowing in Rust")
    return {"a": a.id, "b": b.id}


def test_list_most_recent_get_and_messages(history, two):
    assert [c.id for c in history.list()] == [two["b"], two["a"]]
    assert [c.id for c in history.list(limit=1)] == [two["b"]]
    assert [c.id for c in history.list(query="france")] == [two["a"]]
    assert history.most_recent().id == two["b"]
    assert history.get(two["a"]).message_count == 2
    msgs = history.messages(two["a"])
    assert [(m.role, m.content) for m in msgs] == [("user", "What is the capital of France?"), ("assistant", "Paris.")]
    assert msgs[1].reasoning == "Geography basics."
    with pytest.raises(NotFoundError):
        history.get(999)


def test_most_recent_of_nothing(history):
    assert history.most_recent() is None and history.list() == []


def test_rename_and_delete(history, two):
    assert history.rename(two["b"], "Borrow checker").title == "Borrow checker"
    assert history.get(two["b"]).title == "Borrow checker"
    with pytest.raises(UsageError):
        history.rename(two["b"], "   ")
    history.delete(two["b"])
    assert [c.id for c in history.list()] == [two["a"]]
    with pytest.raises(NotFoundError):
        history.delete(two["b"])


def test_search_with_markers(history, two):
    hits = history.search("capital")
    assert [h.conversation_id for h in hits] == [two["a"]] and "«capital»" in hits[0].snippet
    assert "[capital]" in history.search("capital", markers=("[", "]"))[0].snippet
    assert history.search("nonexistentword") == []


def test_export_writes_markdown_and_json_to_the_default_paths(history, two, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    md = history.export(two["a"], "md")
    assert md == tmp_path / f"glmchat-{two['a']}.md"
    assert md.read_text().startswith("# What is the capital of France?") and "Geography" not in md.read_text()
    js = history.export(two["a"], "json")
    assert js == tmp_path / f"glmchat-{two['a']}.json"
    data = json.loads(js.read_text())
    assert [m["content"] for m in data["messages"]] == ["What is the capital of France?", "Paris."]
    assert js.read_text().endswith("}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([md.name, js.name])  # no temporary files left


def test_export_to_a_new_folder_with_thinking(history, two, tmp_path):
    out = tmp_path / "sub" / "conv.md"
    assert history.export(two["a"], "md", out, thinking=True) == out
    assert "<details>" in out.read_text() and "Geography basics." in out.read_text()


def test_export_to_an_unwritable_path_says_so(history, two, tmp_path):
    with pytest.raises(GlmchatError) as caught:
        history.export(two["a"], "md", tmp_path)  # a directory
    assert caught.value.message == f"Cannot write {tmp_path}: Is a directory."
    assert caught.value.hint == EXPORT_HINT == "Pick another path: /export md PATH"
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone
    with pytest.raises(UsageError) as caught:
        history.export(two["a"], "json", tmp_path, hint="Choose another file with -o.")
    assert caught.value.hint == "Choose another file with -o."
    with pytest.raises(NotFoundError):
        history.export(999, "md", tmp_path / "x.md")
    with pytest.raises(ValueError):
        history.render(two["a"], "pdf")


def test_import_text_round_trip_and_bad_input(history, two):
    conv = history.import_text(history.render(two["a"], "json"))
    assert conv.id not in two.values() and conv.message_count == 2
    assert [m.content for m in history.messages(conv.id)] == [m.content for m in history.messages(two["a"])]
    with pytest.raises(ImportFormatError, match="bad.json is not JSON"):
        history.import_text("{not json", source="bad.json")


def test_wraps_a_given_store_and_closes_it(isolated_dirs, tmp_path):
    store = Store(tmp_path / "own.db")
    h = History(store)
    assert h.store is store and h.notice is None
    h.close()
    with pytest.raises(StoreError):
        store.list_conversations()


def test_notice_of_a_moved_database(isolated_dirs):
    from glmchat.settings import db_path

    db_path().parent.mkdir(parents=True, exist_ok=True)
    db_path().write_bytes(b"garbage" * 100)
    with History() as h:
        assert h.notice and "moved" in h.notice
        assert h.list() == []


@pytest.mark.slow
def test_facade_imports_neither_textual_nor_llama_cpp():
    code = ("import sys, glmchat.history; "
            "print([m for m in ('textual', 'llama_cpp', 'rich', 'glmchat.tui', 'glmchat.engine') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
