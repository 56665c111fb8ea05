"""A healthy database this user cannot write keeps its name and its conversations (issue 14, point 6).

The attack: a `sudo glmchat …` run leaves conversations.db root-owned, or the data folder is made
read-only. glmchat used to call such a file "unusable", rename it `.corrupt-…` and start an empty
one, even for `glmchat history list`.

Tests here run as root, and root ignores file modes, so the in-process tests use
tests/read_only_db.py: the operating system's and SQLite's answers for an ordinary user, at the
boundaries (`os.access`, `sqlite3.connect`). The slow test at the end does the real thing, as the
unprivileged user `nobody` (where setpriv can switch to it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from glmchat.history import History
from glmchat.store import Store, UnwritableError
from tests.read_only_db import deny_writes, two_conversations


def _untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert list(path.parent.glob("*.corrupt-*")) == []


@pytest.mark.parametrize("folder", [False, True], ids=["read-only file", "read-only folder"])
def test_reading_a_read_only_database_shows_every_conversation(tmp_path, monkeypatch, folder):
    path = tmp_path / "conversations.db"
    before = two_conversations(path)
    deny_writes(monkeypatch, path, folder=folder)
    with History(Store(path, read_only_ok=True)) as h:
        assert h.read_only
        assert sorted(c.title for c in h.list()) == ["Tax return", "Trip to Lisbon"]
        assert h.search("Lisbon")[0].conversation_title == "Trip to Lisbon"
        assert "read-only" in h.notice and "chown" in h.notice  # says why, and what to do
        with pytest.raises(UnwritableError) as info:
            h.rename(h.list()[0].id, "mine now")
        assert "Cannot save" in info.value.message and "chown" in info.value.hint
    _untouched(path, before)


@pytest.mark.parametrize("folder", [False, True], ids=["read-only file", "read-only folder"])
def test_a_writing_front_end_refuses_and_keeps_the_file(tmp_path, monkeypatch, folder):
    path = tmp_path / "conversations.db"
    before = two_conversations(path)
    deny_writes(monkeypatch, path, folder=folder)
    with pytest.raises(UnwritableError) as info:  # what the TUI and `ask` open: no empty new database
        Store(path)
    assert "Cannot save conversations" in info.value.message and str(path) in info.value.message
    assert "chown" in info.value.hint and "GLMCHAT_DATA_DIR" in info.value.hint
    _untouched(path, before)


def test_a_damaged_file_is_still_moved_aside_but_only_when_sqlite_says_so(tmp_path):
    path = tmp_path / "conversations.db"
    path.write_bytes(b"\x00not sqlite\x00" * 500)
    with Store(path) as store:
        assert store.notice and "damaged" in store.notice and store.list_conversations() == []
    assert len(list(tmp_path.glob("conversations.db.corrupt-*"))) == 1


def _as_nobody(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-c", textwrap.dedent(script)]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(root), "HOME": str(cwd)}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_as_an_unprivileged_user_read_only_file_and_folder(tmp_path):
    probe = _as_nobody("import glmchat.store, os; print(os.geteuid())", Path("/"))
    if probe.returncode != 0 or probe.stdout.strip() == "0":
        pytest.skip(f"cannot run glmchat as an unprivileged user here: {probe.stderr.strip()[-200:]}")
    for d in (tmp_path, *tmp_path.parents):
        if d != Path("/"):
            os.chmod(d, os.stat(d).st_mode | 0o011)  # let `nobody` reach the test folder
    file_case, folder_case = tmp_path / "file", tmp_path / "folder"
    before = {}
    for d in (file_case, folder_case):
        d.mkdir()
        before[d] = two_conversations(d / "conversations.db")
    if os.geteuid() == 0:
        os.chown(file_case, int(probe.stdout), -1)  # their folder, a file left behind by a sudo run
    os.chmod(file_case / "conversations.db", 0o444)
    os.chmod(folder_case / "conversations.db", 0o666)  # only the folder stands in the way
    os.chmod(folder_case, 0o555)
    script = """
        from pathlib import Path
        from glmchat.history import History
        from glmchat.store import Store, UnwritableError
        for kind in ("file", "folder"):
            path = Path(kind) / "conversations.db"
            with History(Store(path, read_only_ok=True)) as h:
                print(kind, "list", sorted(c.title for c in h.list()), h.read_only)
            try:
                Store(path)
            except UnwritableError as exc:
                print(kind, "refused", "chown" in exc.hint)
    """
    try:
        done = _as_nobody(script, tmp_path)
    finally:
        os.chmod(folder_case, 0o755)
    assert done.returncode == 0, done.stderr
    for d in (file_case, folder_case):
        assert f"{d.name} list ['Tax return', 'Trip to Lisbon'] True" in done.stdout
        assert f"{d.name} refused True" in done.stdout
        _untouched(d / "conversations.db", before[d])
