"""The conversation store's operations, one test (or a few) each."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from glmchat.engine.base import Usage
from glmchat.errors import GlmchatError, UsageError
from glmchat.settings import db_path
from glmchat.store import Conversation, ImportFormatError, Message, NotFoundError, Store, auto_title, migrations


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "conv.db")
    yield s
    s.close()


def test_default_path_pragmas_and_schema_version(isolated_dirs):
    with Store() as s:
        assert s.path == db_path()
        assert s.path.exists()
        assert s.notice is None
    conn = sqlite3.connect(db_path())
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION == len(migrations.MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
        assert {"conversations", "messages", "messages_fts", "messages_fts_update"} <= tables
    finally:
        conn.close()


def test_create_and_get_conversation(store):
    conv = store.create_conversation(title="  Plans  ", model="GLM-4.7-Flash", quant="UD-Q4_K_XL", profile="tool",
                                     thinking_mode="preserve", system_prompt="Be brief.", settings={"n_ctx": 8192})
    assert isinstance(conv, Conversation)
    got = store.get_conversation(conv.id)
    assert got == conv
    assert (got.title, got.model, got.quant, got.profile) == ("Plans", "GLM-4.7-Flash", "UD-Q4_K_XL", "tool")
    assert (got.thinking_mode, got.system_prompt, got.settings) == ("preserve", "Be brief.", {"n_ctx": 8192})
    assert got.message_count == 0 and got.created_at <= got.last_activity


def test_get_missing_conversation_is_a_glmchat_error(store):
    with pytest.raises(NotFoundError) as info:
        store.get_conversation(42)
    assert isinstance(info.value, GlmchatError) and isinstance(info.value, KeyError)
    assert str(info.value).startswith("No conversation 42.") and info.value.hint


def test_add_message_all_fields_and_order(store):
    conv = store.create_conversation()
    calls = [{"id": "call_1", "name": "read_file", "arguments": {"path": "a.py", "lines": [1, 2]}}]
    u = store.add_message(conv.id, "user", "Read a.py")
    a = store.add_message(conv.id, "assistant", "", reasoning="Need the file.", tool_calls=calls,
                          usage=Usage(prompt_tokens=10, completion_tokens=3), meta={"x": 1})
    t = store.add_message(conv.id, "tool", "print('hi')", tool_call_id="call_1", name="read_file")
    msgs = store.messages(conv.id)
    assert [m.id for m in msgs] == [u.id, a.id, t.id]
    assert [m.seq for m in msgs] == [1, 2, 3]
    assert msgs[1].tool_calls == calls and msgs[1].reasoning == "Need the file."
    assert msgs[1].usage["prompt_tokens"] == 10 and msgs[1].meta == {"x": 1}
    assert (msgs[2].tool_call_id, msgs[2].name, msgs[2].status) == ("call_1", "read_file", "complete")
    assert store.get_message(a.id) == msgs[1]
    assert store.get_conversation(conv.id).message_count == 3


def test_add_message_accepts_openai_tool_call_form_and_rejects_bad_values(store):
    conv = store.create_conversation()
    m = store.add_message(conv.id, "assistant", tool_calls=[
        {"id": "c", "type": "function", "function": {"name": "ls", "arguments": '{"path": "."}'}}])
    assert m.tool_calls == [{"id": "c", "name": "ls", "arguments": {"path": "."}}]
    with pytest.raises(ValueError):
        store.add_message(conv.id, "robot", "hi")
    with pytest.raises(ValueError):
        store.add_message(conv.id, "user", "hi", status="done")
    with pytest.raises(NotFoundError):
        store.add_message(999, "user", "hi")


def test_to_chat_form(store):
    conv = store.create_conversation()
    m = store.add_message(conv.id, "assistant", "ok", reasoning="hmm",
                          tool_calls=[{"id": "c1", "name": "ls", "arguments": {"p": 1}}])
    chat = m.to_chat()
    assert chat["reasoning_content"] == "hmm"
    assert chat["tool_calls"] == [{"type": "function", "id": "c1", "function": {"name": "ls", "arguments": {"p": 1}}}]


def test_auto_title_from_first_user_message(store):
    conv = store.create_conversation()
    store.add_message(conv.id, "system", "You are helpful.")
    assert store.get_conversation(conv.id).title == ""
    long = "How do I   write a\nparser for the GLM tool call format that streams well and never blocks the UI thread?"
    store.add_message(conv.id, "user", long)
    title = store.get_conversation(conv.id).title
    assert title == auto_title(long)
    assert title.endswith("…") and len(title) <= 61 and "\n" not in title and "  " not in title
    assert long.replace("\n", " ").split() [:5] == title.split()[:5]
    store.add_message(conv.id, "user", "Second question")
    assert store.get_conversation(conv.id).title == title  # only the first one titles it
    titled = store.create_conversation(title="Mine")
    store.add_message(titled.id, "user", "Something else")
    assert store.get_conversation(titled.id).title == "Mine"


def test_auto_title_cuts_at_word_boundary():
    assert auto_title("short one") == "short one"
    t = auto_title("word " * 30)
    assert t == ("word " * 12).strip() + "…"
    assert auto_title("x" * 100) == "x" * 60 + "…"


def test_list_most_recent_first_with_counts_and_title_filter(store):
    a = store.create_conversation(title="Alpha project")
    b = store.create_conversation(title="Beta 100%_done")
    store.add_message(a.id, "user", "one")
    store.add_message(a.id, "assistant", "two")
    time.sleep(0.01)
    store.add_message(b.id, "user", "three")
    listed = store.list_conversations()
    assert [c.id for c in listed] == [b.id, a.id]
    assert [c.message_count for c in listed] == [1, 2]
    assert listed[0].last_activity >= listed[1].last_activity
    assert [c.id for c in store.list_conversations(limit=1)] == [b.id]
    assert [c.id for c in store.list_conversations(query="alpha")] == [a.id]
    assert [c.id for c in store.list_conversations(query="%_")] == [b.id]  # LIKE wildcards are literal
    assert store.list_conversations(query="gamma") == []
    time.sleep(0.01)
    store.add_message(a.id, "user", "back to alpha")
    assert store.most_recent().id == a.id


def test_most_recent_on_empty_store(store):
    assert store.most_recent() is None
    assert store.list_conversations() == []


def test_update_conversation_and_rename(store):
    conv = store.create_conversation(title="Old")
    up = store.update_conversation(conv.id, model="m2", quant="Q8_0", profile="general", thinking_mode="off",
                                   system_prompt="S", settings={"a": 1})
    assert (up.model, up.quant, up.profile, up.thinking_mode, up.system_prompt, up.settings) == \
        ("m2", "Q8_0", "general", "off", "S", {"a": 1})
    assert store.rename(conv.id, " New title ").title == "New title"
    assert store.get_conversation(conv.id).title == "New title"
    with pytest.raises(UsageError):
        store.rename(conv.id, "   ")
    with pytest.raises(TypeError):
        store.update_conversation(conv.id, colour="red")
    with pytest.raises(NotFoundError):
        store.rename(12345, "x")


def test_update_message(store):
    conv = store.create_conversation()
    m = store.add_message(conv.id, "assistant", "draft", status="partial")
    assert m.meta["writer"]["pid"] > 0  # the writer's identity is recorded while partial
    up = store.update_message(m.id, content="final", reasoning="r", status="complete", usage={"completion_tokens": 5},
                              tool_calls=[{"name": "ls", "arguments": {}}])
    assert (up.content, up.reasoning, up.status, up.usage) == ("final", "r", "complete", {"completion_tokens": 5})
    assert up.tool_calls == [{"id": None, "name": "ls", "arguments": {}}]
    assert "writer" not in up.meta
    assert store.update_message(m.id, meta={"compacted": True}).meta == {"compacted": True}
    with pytest.raises(TypeError):
        store.update_message(m.id, seq=5)
    with pytest.raises(NotFoundError):
        store.update_message(99999, content="x")


def test_delete_cascades_and_cleans_search(store):
    conv = store.create_conversation()
    store.add_message(conv.id, "user", "zebra crossing")
    other = store.create_conversation()
    store.add_message(other.id, "user", "zebra stripes")
    assert len(store.search("zebra")) == 2
    store.delete(conv.id)
    with pytest.raises(NotFoundError):
        store.get_conversation(conv.id)
    with pytest.raises(NotFoundError):
        store.messages(conv.id)
    hits = store.search("zebra")
    assert [h.conversation_id for h in hits] == [other.id]
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT count(*) FROM messages WHERE conversation_id = ?", (conv.id,)).fetchone()[0] == 0
    conn.close()
    with pytest.raises(NotFoundError):
        store.delete(conv.id)


def test_search_content_and_reasoning(store):
    conv = store.create_conversation(title="Cooking")
    m1 = store.add_message(conv.id, "user", "How long should I boil an egg?")
    m2 = store.add_message(conv.id, "assistant", "About nine minutes.", reasoning="Hard-boiled eggs need longer simmering.")
    other = store.create_conversation()
    store.add_message(other.id, "user", "Café prices in Zürich")
    hits = store.search("boil egg")
    assert [h.message_id for h in hits] == [m1.id]
    assert hits[0].conversation_title == "Cooking" and hits[0].role == "user"
    assert "«boil»" in hits[0].snippet and "«egg»" in hits[0].snippet
    assert [h.message_id for h in store.search("simmering")] == [m2.id]  # reasoning is searched too
    assert {h.message_id for h in store.search("minut")} == {m2.id}  # last word is a prefix
    assert len(store.search("cafe zurich")) == 1  # diacritics folded
    assert store.search("   ") == [] and store.search('"*') == []
    assert store.search("boil", conversation_id=other.id) == []
    assert store.search("boil", markers=("<b>", "</b>"))[0].snippet.count("<b>boil</b>") == 1


def test_search_follows_edits(store):
    conv = store.create_conversation()
    m = store.add_message(conv.id, "assistant", "alpha")
    store.update_message(m.id, content="omega")
    assert store.search("alpha") == []
    assert [h.message_id for h in store.search("omega")] == [m.id]


def test_fork_copies_up_to_and_including(store):
    conv = store.create_conversation(title="Original", model="m", settings={"k": 1})
    ms = [store.add_message(conv.id, r, f"msg {i}") for i, r in enumerate(["user", "assistant", "user", "assistant"])]
    fork = store.fork(conv.id, ms[1].id)
    assert fork.id != conv.id and fork.title == "Original (fork)"
    assert (fork.model, fork.settings, fork.message_count) == ("m", {"k": 1}, 2)
    copied = store.messages(fork.id)
    assert [m.content for m in copied] == ["msg 0", "msg 1"]
    assert {m.id for m in copied}.isdisjoint({m.id for m in ms})
    assert len(store.messages(conv.id)) == 4  # the original is untouched
    with pytest.raises(NotFoundError):
        store.fork(conv.id, copied[0].id)  # a message of another conversation


def test_truncate_after(store):
    conv = store.create_conversation()
    ms = [store.add_message(conv.id, "user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(5)]
    assert store.truncate_after(conv.id, ms[2].id) == 2
    assert [m.content for m in store.messages(conv.id)] == ["m0", "m1", "m2"]
    new = store.add_message(conv.id, "assistant", "retry")
    assert new.seq == 4
    assert store.truncate_after(conv.id, new.id) == 0
    with pytest.raises(NotFoundError):
        store.truncate_after(conv.id, ms[4].id)


def _rich_conversation(store: Store) -> Conversation:
    conv = store.create_conversation(title="Tools", model="GLM", quant="Q4", profile="tool", thinking_mode="on",
                                     system_prompt="You code.", settings={"temperature": 0.7})
    store.add_message(conv.id, "system", "You code.")
    store.add_message(conv.id, "user", "List files ```please```")
    store.add_message(conv.id, "assistant", "", reasoning="Use ls.",
                      tool_calls=[{"id": "call_0", "name": "list_dir", "arguments": {"path": ".", "deep": False}}],
                      usage={"prompt_tokens": 12, "generation_tokens_per_second": 31.5})
    store.add_message(conv.id, "tool", "a.py\n```\nb.py", tool_call_id="call_0", name="list_dir")
    store.add_message(conv.id, "assistant", "Two files.", reasoning="Done.", status="cancelled", meta={"note": "ü"})
    store.add_message(conv.id, "assistant", "half", status="error", meta={"error": "engine died"})
    return store.get_conversation(conv.id)


KEYS = ("seq", "role", "content", "reasoning", "tool_calls", "tool_call_id", "name", "status", "usage", "created_at", "meta")


def test_export_json_import_round_trip(store, tmp_path):
    import json

    conv = _rich_conversation(store)
    data = store.export_json(conv.id)
    data = json.loads(json.dumps(data))  # through real JSON text
    assert data["format"] == "glmchat.conversation" and len(data["messages"]) == 6
    new = store.import_json(data)
    assert new.id != conv.id and new.message_count == 6
    for k in ("title", "model", "quant", "profile", "thinking_mode", "system_prompt", "settings", "created_at"):
        assert getattr(new, k) == getattr(conv, k), k
    a, b = store.messages(conv.id), store.messages(new.id)
    assert [[getattr(m, k) for k in KEYS] for m in a] == [[getattr(m, k) for k in KEYS] for m in b]
    assert {m.id for m in a}.isdisjoint(m.id for m in b)
    # a second Store on the same file (a later glmchat run) sees the same thing
    with Store(store.path) as again:
        assert [[getattr(m, k) for k in KEYS] for m in again.messages(new.id)] == [[getattr(m, k) for k in KEYS] for m in a]


def test_import_rejects_bad_data(store):
    for bad in ([], {"format": "other"}, {"format": "glmchat.conversation", "version": 1},
                {"format": "glmchat.conversation", "version": 1, "conversation": {}, "messages": [{"role": "x"}]},
                {"format": "glmchat.conversation", "version": 1, "conversation": {},
                 "messages": [{"role": "user", "content": 5}]}):
        with pytest.raises(ImportFormatError):
            store.import_json(bad)
    with pytest.raises(ImportFormatError, match="newer|version 9"):
        store.import_json({"format": "glmchat.conversation", "version": 9, "conversation": {}, "messages": []})
    assert store.list_conversations() == []  # nothing half-imported


def test_import_marks_partial_as_interrupted(store):
    conv = store.create_conversation()
    store.add_message(conv.id, "assistant", "cut", status="partial")
    data = store.export_json(conv.id)
    new = store.import_json(data)
    m = store.messages(new.id)[0]
    assert m.status == "interrupted" and "writer" not in m.meta


def test_export_markdown(store):
    conv = _rich_conversation(store)
    md = store.export_markdown(conv.id)
    assert md.startswith("# Tools\n")
    assert "## User\n\nList files ```please```" in md
    assert "**Tool call** `list_dir` (id `call_0`)" in md and '"deep": false' in md
    assert "## Tool result · list_dir" in md and "````\na.py\n```\nb.py\n````" in md  # fence outgrows the content
    assert "*(stopped)*" in md and "> Error: engine died" in md  # the TUI's word, not the stored status
    assert "cancelled" not in md
    assert "Use ls." not in md and "<details>" not in md
    md2 = store.export_markdown(conv.id, thinking=True)
    assert "<details>\n<summary>Thinking</summary>\n\nUse ls.\n\n</details>" in md2


def test_stream_writer_saves_while_streaming_and_finishes(store):
    conv = store.create_conversation()
    w = store.stream_writer(conv.id, min_interval=0.2)
    row = store.get_message(w.message_id)
    assert row.status == "partial" and row.content == "" and row.role == "assistant"
    w.append_reasoning("thinking ")
    w.append_answer("Hello")
    assert store.get_message(w.message_id).content == ""  # not written on every chunk
    deadline = time.monotonic() + 3
    while store.get_message(w.message_id).content != "Hello" and time.monotonic() < deadline:
        w.append_answer("")  # nothing new: the background save must still happen
        time.sleep(0.02)
    saved = store.get_message(w.message_id)
    assert (saved.content, saved.reasoning, saved.status) == ("Hello", "thinking ", "partial")
    w.append_answer(" world")
    w.set_tool_calls([{"name": "ls", "arguments": {"path": "."}}])
    assert w.flush() is True and w.flush() is False
    assert store.get_message(w.message_id).tool_calls == [{"id": None, "name": "ls", "arguments": {"path": "."}}]
    done = w.finish(status="complete", usage={"completion_tokens": 2}, meta={"stop_reason": "stop"})
    assert isinstance(done, Message)
    assert (done.content, done.status, done.usage, done.meta) == ("Hello world", "complete", {"completion_tokens": 2},
                                                                  {"stop_reason": "stop"})
    assert [h.message_id for h in store.search("world")] == [done.id]
    with pytest.raises(RuntimeError):
        w.append_answer("late")


def test_stream_writer_saves_through_any_message_sink():
    """The writer needs only save_stream and update_message (the Store's public pair), nothing private."""
    from glmchat.store import StreamWriter

    class Sink:
        def __init__(self):
            self.saves, self.final = [], None

        def save_stream(self, msg_id, content, reasoning, tool_calls):
            self.saves.append((msg_id, content, reasoning, tool_calls))

        def update_message(self, msg_id, **fields):
            self.final = (msg_id, fields)
            return Message(id=msg_id, conversation_id=1, seq=1, role="assistant", content=fields["content"],
                           status=fields["status"], created_at=0.0)

    sink = Sink()
    w = StreamWriter(sink, Message(id=7, conversation_id=1, seq=1, role="assistant", content="", status="partial",
                                   created_at=0.0, meta={"writer": {"pid": 1}}), background=False)
    w.append_reasoning("hm")
    w.append_answer("Hi")
    assert w.flush() and sink.saves == [(7, "Hi", "hm", None)]
    assert w.finish("complete").content == "Hi"
    assert sink.final == (7, {"content": "Hi", "reasoning": "hm", "tool_calls": None, "status": "complete", "meta": {}})


def test_stream_writer_write_rate_is_limited(store):
    conv = store.create_conversation()
    w = store.stream_writer(conv.id, min_interval=0.25, background=False)
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        w.append_answer("x")
        time.sleep(0.002)
    # about 4 saves in one second at 0.25 s, never one per chunk
    assert 2 <= w.writes <= 6, w.writes
    w.finish()


def test_stream_writer_context_manager_records_errors(store):
    conv = store.create_conversation()
    with pytest.raises(ZeroDivisionError):
        with store.stream_writer(conv.id) as w:
            w.append_answer("partial answer")
            1 / 0
    m = store.get_message(w.message_id)
    assert (m.content, m.status) == ("partial answer", "error")
    assert "division" in m.meta["error"] and "writer" not in m.meta


def test_stream_writer_append_is_cheap(store):
    conv = store.create_conversation()
    w = store.stream_writer(conv.id, min_interval=1.0)
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        w.append_answer("tok ")
    per_append = (time.perf_counter() - start) / n
    w.finish()
    assert per_append < 0.0002, f"{per_append * 1e6:.1f} µs per append"


def test_reads_and_writes_from_several_threads(store):
    conv = store.create_conversation()
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            for i in range(60):
                store.add_message(conv.id, "user", f"{tag} {i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(60):
                store.list_conversations()
                store.messages(conv.id)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in "ab"] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    msgs = store.messages(conv.id)
    assert len(msgs) == 120 and [m.seq for m in msgs] == list(range(1, 121))


def test_closed_store_refuses_work(tmp_path):
    s = Store(tmp_path / "c.db")
    s.close()
    with pytest.raises(GlmchatError, match="closed"):
        s.list_conversations()
