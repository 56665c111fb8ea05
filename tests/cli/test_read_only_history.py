"""The CLI on a database this user cannot write (issue 14, point 6), through glmchat.cli.main.

The attack: conversations.db left root-owned by a `sudo glmchat` run (or a read-only data folder).
`glmchat history list` used to rename it `.corrupt-…` and show an empty history. Now the reading
commands show every conversation from the read-only file and say how to get write access back;
writing commands, `glmchat ask` and the TUI refuse in one line, and the file keeps its name and
its bytes. Root ignores file modes, so tests/read_only_db.py gives the answers an ordinary user
gets (see there; tests/store/test_read_only_database.py does it for real as `nobody`).
"""

from __future__ import annotations

import sys

import pytest

from glmchat import cli
from glmchat.settings import db_path
from tests.read_only_db import deny_writes, two_conversations

def glmchat(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


@pytest.fixture
def read_only_db(isolated_dirs, monkeypatch, request):
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    before = two_conversations(path)
    deny_writes(monkeypatch, path, folder=request.param)
    monkeypatch.setenv("COLUMNS", "160")
    yield path
    assert path.read_bytes() == before  # the same name, the same conversations
    assert list(path.parent.glob("*.corrupt-*")) == []


@pytest.mark.parametrize("read_only_db", [False, True], ids=["read-only file", "read-only folder"], indirect=True)
def test_history_list_show_and_search_read_it(read_only_db, capsys):
    code, out, err = glmchat(capsys, "history", "list")
    assert code == 0 and "Trip to Lisbon" in out and "Tax return" in out
    assert "read-only" in err and "chown" in err  # why, and what to do
    code, out, _ = glmchat(capsys, "history", "search", "Lisbon")
    assert code == 0 and "Trip to Lisbon" in out
    code, out, _ = glmchat(capsys, "history", "export", "1", "-f", "json")
    assert code == 0 and "notes about" in out


@pytest.mark.parametrize("read_only_db", [False, True], ids=["read-only file", "read-only folder"], indirect=True)
def test_writing_commands_refuse_in_one_line(read_only_db, capsys, tmp_path):
    export = tmp_path / "one.json"
    assert glmchat(capsys, "history", "export", "1", "-f", "json", "-o", str(export))[0] == 0
    for argv in (["history", "rename", "1", "mine"], ["history", "import", str(export)],
                 ["history", "delete", "1", "--yes"]):
        code, _, err = glmchat(capsys, *argv)
        refusal = [line for line in err.splitlines() if line.startswith("glmchat:")]
        assert code == 1 and len(refusal) == 1 and "Cannot save conversations" in refusal[0], err
        assert "chown" in refusal[0] and "Traceback" not in err


@pytest.mark.parametrize("read_only_db", [False, True], ids=["read-only file", "read-only folder"], indirect=True)
def test_ask_and_the_tui_say_why_they_cannot_save(read_only_db, capsys, monkeypatch):
    from glmchat.commands import ask
    from glmchat.tui import app as tui_app

    monkeypatch.setattr(ask, "open_engine", lambda *a, **kw: pytest.fail("no model loads for a refused history"))
    code, out, err = glmchat(capsys, "ask", "hello")
    assert code == 1 and out == ""
    assert err.startswith("glmchat: Cannot save conversations:") and "chown" in err and "--no-history" in err

    started = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(tui_app, "run_app", lambda *a, **kw: started.append(a) or 0)
    code, _, err = glmchat(capsys)
    assert code == 1 and not started  # the TUI does not start on an empty database instead
    assert err.startswith("glmchat: Cannot save conversations:") and "chown" in err
