"""The store under crashes, concurrent processes, damaged files and newer schemas."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from glmchat.errors import GlmchatError
from glmchat.settings import db_path
from glmchat.store import Store, StoreError

CHILD = Path(__file__).resolve().parents[1] / "store_writer_child.py"


def _chunks(lines: list[str]) -> list[tuple[str, float, str]]:
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "chunk":
            out.append((parts[1], float(parts[2]), parts[3] + " "))
    return out


@pytest.mark.slow
def test_kill_9_mid_turn_keeps_the_text_and_marks_it_interrupted(tmp_path):
    db = tmp_path / "conv.db"
    proc = subprocess.Popen([sys.executable, str(CHILD), "stream", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        head = proc.stdout.readline().split()
        assert head[:1] == ["conv"], head
        conv_id, msg_id = int(head[1]), int(head[2])
        lines: list[str] = []
        first = None
        while True:
            line = proc.stdout.readline()
            assert line, "child stopped streaming"
            lines.append(line)
            t = float(line.split()[2])
            first = first or t
            if t - first >= 1.6 and "answer" in line:
                break
        # while the child lives, another process sees the partial message and leaves it alone
        with Store(db) as peek:
            live = peek.get_message(msg_id)
            assert live.status == "partial" and live.reasoning
            assert msg_id not in peek.recovered
        while True:  # stream a while longer, then kill in the middle of the answer
            line = proc.stdout.readline()
            lines.append(line)
            if float(line.split()[2]) - first >= 2.7:
                break
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        lines += proc.stdout.read().splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    chunks = _chunks(lines)
    with Store(db) as store:
        assert msg_id in store.recovered
        conv = store.get_conversation(conv_id)
        assert conv.title == "Killed mid-turn" and conv.message_count == 2
        msg = store.messages(conv_id)[-1]
    assert msg.id == msg_id and msg.status == "interrupted" and "writer" not in msg.meta
    for kind, saved in (("reasoning", msg.reasoning or ""), ("answer", msg.content)):
        sent = [text for k, _, text in chunks if k == kind]
        old = [text for k, t, text in chunks if k == kind and t < killed_at - 1.0]
        assert old, f"no {kind} older than a second"
        assert "".join(sent).startswith(saved), f"{kind} saved text is not what was streamed"
        assert saved.startswith("".join(old)), (
            f"{kind}: lost text older than one second: saved {len(saved.split())} chunks, "
            f"{len(old)} were older than 1 s at the kill")


@pytest.mark.slow
def test_two_processes_writing_500_messages_each(tmp_path):
    db = tmp_path / "conv.db"
    with Store(db) as store:
        conv = store.create_conversation(title="Busy")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, str(CHILD), "write", str(db), str(conv.id), tag, "500", str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("A", "B")
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert out.strip() == "done" and "locked" not in err

    with Store(db) as store:
        msgs = store.messages(conv.id)
        assert store.get_conversation(conv.id).message_count == 1000
    assert [m.seq for m in msgs] == list(range(1, 1001))
    for tag in ("A", "B"):
        assert [m.content for m in msgs if m.content.startswith(tag)] == [f"{tag} {i}" for i in range(500)]
    switches = sum(1 for a, b in zip(msgs, msgs[1:]) if a.content[0] != b.content[0])
    print(f"{switches} switches between the two writers")
    assert switches > 10, f"the two writers did not overlap ({switches} switches)"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_garbage_file_is_moved_aside_and_a_fresh_store_started(isolated_dirs):
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    junk = b"this is not a database, just some bytes " * 200
    path.write_bytes(junk)
    with Store() as store:
        assert store.notice and "moved" in store.notice and "conversations.db.corrupt-" in store.notice
        assert store.list_conversations() == []
        store.create_conversation(title="fresh")
    aside = list(path.parent.glob("conversations.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == junk  # kept, byte for byte
    with Store() as again:  # the fresh file is fine on the next start
        assert again.notice is None and [c.title for c in again.list_conversations()] == ["fresh"]


def test_damaged_schema_page_is_moved_aside(tmp_path):
    path = tmp_path / "conv.db"
    with Store(path) as store:
        conv = store.create_conversation(title="old")
        store.add_message(conv.id, "user", "hello")
    data = bytearray(path.read_bytes())
    data[100:1100] = b"\xa5" * 1000  # page 1 after the file header holds the schema
    path.write_bytes(bytes(data))
    with Store(path) as store:
        assert store.notice and "damaged" in store.notice
        assert store.list_conversations() == []
    assert len(list(tmp_path.glob("conv.db.corrupt-*"))) == 1


def test_database_from_a_newer_glmchat_is_refused_untouched(tmp_path):
    path = tmp_path / "conv.db"
    with Store(path) as store:
        store.create_conversation(title="keep me")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "newer glmchat" in str(info.value) and info.value.hint
    assert list(tmp_path.glob("*.corrupt-*")) == []
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT title FROM conversations").fetchall() == [("keep me",)]
    conn.close()


def test_path_that_cannot_be_opened_is_a_clean_error(tmp_path):
    path = tmp_path / "conv.db"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(GlmchatError) as info:
        Store(path)
    assert info.value.hint


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_a_clean_error_and_stays_where_it_is(tmp_path):
    path = tmp_path / "conv.db"
    with Store(path):
        pass
    path.chmod(0)
    try:
        for read_only_ok in (False, True):
            with pytest.raises(StoreError) as info:
                Store(path, read_only_ok=read_only_ok)
            assert "chown" in info.value.hint
        assert path.exists() and list(tmp_path.glob("conv.db.corrupt-*")) == []  # permissions are not damage
    finally:
        path.chmod(0o600)


def test_write_waits_for_a_lock_held_briefly_by_another_process(tmp_path):
    path = tmp_path / "conv.db"
    store = Store(path, lock_timeout=5)
    conv = store.create_conversation()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.4, lambda: other.execute("COMMIT")).start()
    start = time.monotonic()
    store.add_message(conv.id, "user", "after the lock")
    assert time.monotonic() - start >= 0.3
    assert store.messages(conv.id)[0].content == "after the lock"
    other.close()
    store.close()


def test_lock_held_too_long_gives_a_clear_error(tmp_path):
    path = tmp_path / "conv.db"
    store = Store(path, lock_timeout=0.4)
    conv = store.create_conversation()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="stayed locked"):
            store.add_message(conv.id, "user", "blocked")
        assert [c.id for c in store.list_conversations()] == [conv.id]  # reads still work meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.add_message(conv.id, "user", "now it works")
    store.close()


def test_partial_row_of_a_dead_process_is_interrupted_and_own_live_one_is_not(tmp_path):
    path = tmp_path / "conv.db"
    with Store(path) as store:
        conv = store.create_conversation()
        dead = store.add_message(conv.id, "assistant", "cut off", status="partial",
                                 meta={"writer": {"pid": 2 ** 22 + 7, "token": "gone:1"}})
        reused = store.add_message(conv.id, "assistant", "pid reused", status="partial",
                                   meta={"writer": {"pid": os.getpid(), "token": "another-boot:1"}})
        mine = store.stream_writer(conv.id, background=False)
        mine.append_answer("still going")
        with Store(path) as second:
            assert set(second.recovered) == {dead.id, reused.id}
            states = {m.id: m.status for m in second.messages(conv.id)}
        assert states == {dead.id: "interrupted", reused.id: "interrupted", mine.message_id: "partial"}
        assert mine.finish().status == "complete"
