"""What glmchat writes about a conversation is private to the user (issue 14, point 8).

The attack: another account on the machine reads conversations.db (and its -wal, which holds the
latest turns), or an export: they were created 0644 under the usual umask. Now files are 0600 and
the folders glmchat creates 0700, whatever the umask (0: everything open; 0o277: even the owner's
write bit taken away, which mkdir alone would leave unusable).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glmchat.history import History
from glmchat.store import Store


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0, 0o277], ids=["umask 000", "umask 277"])
def any_umask(request):
    old = os.umask(request.param)
    yield
    os.umask(old)


def test_the_database_its_wal_and_its_folder_are_private(tmp_path, any_umask):
    data = tmp_path / "new" / "data"  # glmchat creates both folders
    db = data / "conversations.db"
    with Store(db) as s:
        conv = s.create_conversation(title="secret")
        s.add_message(conv.id, "user", "my password is hunter2")  # in the -wal until a checkpoint
        assert {suffix: mode(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")} == {"": 0o600, "-wal": 0o600,
                                                                                     "-shm": 0o600}
    assert mode(data) == 0o700 and mode(data.parent) == 0o700


def test_a_database_left_world_readable_by_an_older_glmchat_is_narrowed(tmp_path):
    db = tmp_path / "conversations.db"
    with Store(db) as s:
        s.create_conversation(title="old")
    os.chmod(db, 0o644)
    with Store(db) as s:
        assert [c.title for c in s.list_conversations()] == ["old"]
        assert mode(db) == 0o600 and mode(f"{db}-wal") == 0o600


def test_a_folder_that_already_exists_keeps_its_mode(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    with Store(shared / "c.db"):
        pass
    assert mode(shared) == 0o755 and mode(shared / "c.db") == 0o600


def test_exports_are_private(tmp_path, any_umask):
    with History(Store(tmp_path / "c.db")) as h:
        conv = h.store.create_conversation(title="secret")
        h.store.add_message(conv.id, "user", "my password is hunter2")
        md = h.export(conv.id, "md", tmp_path / "exports" / "secret.md")
        js = h.export(conv.id, "json", tmp_path / "secret.json")
    assert mode(md) == 0o600 and mode(js) == 0o600 and mode(tmp_path / "exports") == 0o700
    assert "hunter2" in md.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db", "exports", "secret.json"]  # no temporary left
