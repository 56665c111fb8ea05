"""`glmchat history import` of hostile files (issue 14, point 6), through glmchat.cli.main.

The attack: an "export" with a timestamp of 1e20 was accepted, after which every `history list`
died with OverflowError; deeply nested JSON, huge integers, lone surrogates and wrong types gave
tracebacks. Now each bad file is refused with one line naming the field, nothing is written, and
`history list` / `show` keep working. Lone surrogates are not refused: the text is kept, with
U+FFFD in their place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glmchat import cli
from glmchat.store import Store


def glmchat(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def export(conversation: dict[str, Any] | None = None, message: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": "glmchat.conversation", "version": 1,
            "conversation": {"title": "imported", "created_at": 1_700_000_000, **(conversation or {})},
            "messages": [{"seq": 1, "role": "user", "content": "hello", **(message or {})}]}


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"x": value}
    return value


ATTACKS = {  # name: (file text, what the one line must name)
    "timestamp 1e20": (json.dumps(export({"created_at": 1e20})), "conversation.created_at"),
    "message timestamp 1e20": (json.dumps(export(message={"created_at": 1e20})), "messages[0].created_at"),
    "timestamp NaN": (json.dumps(export({"updated_at": float("nan")})), "conversation.updated_at"),
    "negative timestamp": (json.dumps(export({"last_activity": -1e15})), "conversation.last_activity"),
    "seq beyond 64 bits": (json.dumps(export(message={"seq": 2**64})), "messages[0].seq"),
    "huge int in meta": (json.dumps(export(message={"meta": {"n": 10**40}})), "messages[0].meta"),
    "huge int in settings": (json.dumps(export({"settings": {"n": -(10**30)}})), "conversation.settings"),
    "5000-digit int": (json.dumps(export()).replace('"seq": 1', '"seq": 1' + "0" * 5000), "is not JSON"),
    "nesting 100000 deep": ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nests JSON too deeply"),
    "meta nested 200 deep": (json.dumps(export(message={"meta": nested(200)})), "messages[0].meta"),
    "tool arguments nested": (json.dumps(export(message={"role": "assistant", "tool_calls": [
        {"name": "read_file", "arguments": nested(100)}]})), "messages[0].tool_calls"),
    "title not a string": (json.dumps(export({"title": {"a": 1}})), "conversation.title"),
    "role a list": (json.dumps(export(message={"role": ["user"]})), "messages[0].role"),
    "status a dict": (json.dumps(export(message={"status": {"x": 1}})), "messages[0].status"),
    "settings a list": (json.dumps(export({"settings": [1, 2]})), "conversation.settings"),
    "content a number": (json.dumps(export(message={"content": 5})), "messages[0].content"),
    "unknown thinking mode": (json.dumps(export({"thinking_mode": "evil"})), "conversation.thinking_mode"),
    "call id an object": (json.dumps(export(message={"role": "assistant", "tool_calls": [
        {"id": {"x": 1}, "name": "t", "arguments": {}}]})), "messages[0].tool_calls"),
    "title of a megabyte": (json.dumps(export({"title": "t" * 2**20})), "conversation.title"),
}


@pytest.fixture
def one_conversation(isolated_dirs, monkeypatch) -> int:
    monkeypatch.setenv("COLUMNS", "160")
    with Store() as s:
        conv = s.create_conversation(title="Kept safe")
        s.add_message(conv.id, "user", "still readable")
        return conv.id


@pytest.mark.parametrize("text,field", list(ATTACKS.values()), ids=list(ATTACKS))
def test_a_hostile_import_is_refused_in_one_line_and_history_still_works(one_conversation, capsys, tmp_path,
                                                                          text, field):
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    code, out, err = glmchat(capsys, "history", "import", str(bad))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("glmchat: ") and field in err, err  # one line, the field
    code, out, err = glmchat(capsys, "history", "list")
    assert code == 0 and "Kept safe" in out and "imported" not in out, err  # nothing written
    code, out, _ = glmchat(capsys, "history", "show", str(one_conversation))
    assert code == 0 and "still readable" in out


def test_lone_surrogates_are_kept_as_replacement_characters(one_conversation, capsys, tmp_path):
    text = json.dumps(export({"title": "half \ud800 a pair"}, {"content": "a\udcff b", "meta": {"k\ud800": "v"}}))
    assert "\\ud800" in text  # the JSON escape a hostile file carries
    path = tmp_path / "surrogates.json"
    path.write_text(text, encoding="utf-8")
    code, out, err = glmchat(capsys, "history", "import", str(path))
    assert code == 0, err
    code, out, err = glmchat(capsys, "history", "list", "--json")
    assert code == 0 and "half \ufffd a pair" in {c["title"] for c in json.loads(out)}
    new_id = max(c["id"] for c in json.loads(out))
    for argv in (["show", str(new_id)], ["export", str(new_id), "-f", "md"], ["search", "pair"]):
        code, out, err = glmchat(capsys, "history", *argv)
        assert code == 0 and "Traceback" not in err, argv
    with Store() as s:
        [m] = s.messages(new_id)
        assert m.content == "a\ufffd b" and m.meta == {"k\ufffd": "v"}


def test_an_export_reimports_unchanged(one_conversation, capsys, tmp_path):
    out_file = Path(tmp_path) / "x.json"
    assert glmchat(capsys, "history", "export", str(one_conversation), "-f", "json", "-o", str(out_file))[0] == 0
    code, out, err = glmchat(capsys, "history", "import", str(out_file))
    assert code == 0 and "Imported" in out, err


def test_a_history_an_older_glmchat_filled_with_hostile_values_still_lists(one_conversation, capsys):
    import sqlite3

    from glmchat.settings import db_path

    conn = sqlite3.connect(db_path())  # what an older `history import` let in
    conn.execute("UPDATE conversations SET created_at = 1e20, last_activity = -1e300")
    conn.execute("UPDATE messages SET created_at = 1e20, meta = ?", ('{"a":' * 5000 + "1" + "}" * 5000,))
    conn.commit()
    conn.close()
    for argv in (["list"], ["show", str(one_conversation)], ["export", str(one_conversation)]):
        code, out, err = glmchat(capsys, "history", *argv)
        assert code == 0 and "Traceback" not in err, (argv, err)
    assert "Kept safe" in glmchat(capsys, "history", "list")[1]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_importing_a_fifo_or_a_device_is_refused_at_once(tmp_path, capsys, kind):
    import os
    import time

    if kind == "fifo":
        target = tmp_path / "export.json"
        os.mkfifo(target)  # nobody ever writes to it: reading it would block forever
    else:
        target = Path("/dev/zero")  # endless: reading it would never finish
    started = time.monotonic()
    code, out, err = glmchat(capsys, "history", "import", str(target))
    assert time.monotonic() - started < 1
    assert code == 2 and "not a regular file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the line and its hint
