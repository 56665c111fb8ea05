"""`glmchat history ...`: every sub-command, through typer's runner and once through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from glmchat.commands import history
from glmchat.errors import UsageError
from glmchat.store import ImportFormatError, NotFoundError, Store


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:  # keeps "history" a sub-command
        pass

    history.register(app)
    return app


@pytest.fixture
def filled(isolated_dirs) -> dict[str, int]:
    with Store() as s:
        a = s.create_conversation(model="GLM-4.7-Flash", quant="UD-Q4_K_XL")
        s.add_message(a.id, "user", "What is the capital of France?")
        s.add_message(a.id, "assistant", "Paris.", reasoning="Geography basics, easy.",
                      tool_calls=[{"id": "c1", "name": "lookup", "arguments": {"q": "France"}}])
        b = s.create_conversation(title="Rust lifetimes")
        s.add_message(b.id, "user", "Explain borrowing in Rust")
        return {"a": a.id, "b": b.id}


def run(app: typer.Typer, *args: str, input: str | None = None):
    return CliRunner().invoke(app, ["history", *args], input=input, env={"COLUMNS": "160"})


def test_list_human_and_json(app, filled):
    res = run(app, "list")
    assert res.exit_code == 0, res.output
    assert "Rust lifetimes" in res.output and "What is the capital of France?" in res.output
    assert res.output.index("Rust lifetimes") < res.output.index("capital")  # most recent first
    res = run(app, "list", "--json")
    data = json.loads(res.output)
    assert [c["id"] for c in data] == [filled["b"], filled["a"]]
    assert data[1]["title"] == "What is the capital of France?" and data[1]["message_count"] == 2
    assert {"id", "title", "created_at", "last_activity", "model", "quant"} <= set(data[0])
    assert [c["id"] for c in json.loads(run(app, "list", "--json", "--limit", "1").output)] == [filled["b"]]
    assert [c["id"] for c in json.loads(run(app, "list", "--json", "-q", "france").output)] == [filled["a"]]


def test_list_empty(app, isolated_dirs):
    res = run(app, "list")
    assert res.exit_code == 0 and "No conversations yet." in res.output
    assert json.loads(run(app, "list", "--json").output) == []


@pytest.mark.parametrize("columns", [80, 60])
def test_list_keeps_ids_and_titles_on_narrow_terminals(app, isolated_dirs, columns):
    """The IDs that show/export/delete take, and the titles, stay; Model, dates and counts give way."""
    with Store() as s:
        ids = []
        for n in range(12):  # two-digit IDs, long titles and a long model name, as after a week of use
            c = s.create_conversation(model="GLM-4.7-Flash-with-a-long-name", quant="UD-Q4_K_XL",
                                      title=f"Conversation {n} about a subject with a rather long description")
            s.add_message(c.id, "user", "hi")
            ids.append(c.id)
    res = CliRunner().invoke(app, ["history", "list"], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:2] == ["ID", "Title"]
    assert all(len(line) <= columns for line in lines)
    rows = {int(line.split()[0]): line for line in lines[1:]}
    assert sorted(rows) == sorted(ids)  # every ID, whole, at the start of its row
    for conv_id, line in rows.items():
        assert "Conversation" in line and "GLM" not in line  # the title shows; the model gave way


def test_show(app, filled):
    res = run(app, "show", str(filled["a"]))
    assert res.exit_code == 0, res.output
    assert "What is the capital of France?" in res.output and "Paris." in res.output
    assert "lookup" in res.output and "Geography" not in res.output
    res = run(app, "show", str(filled["a"]), "--thinking")
    assert "Geography basics, easy." in res.output
    data = json.loads(run(app, "show", str(filled["a"]), "--json").output)
    assert [m["content"] for m in data["messages"]] == ["What is the capital of France?", "Paris."]
    assert data["messages"][1]["reasoning"] == "Geography basics, easy."
    res = run(app, "show", "999")
    assert isinstance(res.exception, NotFoundError)


def test_search(app, filled):
    res = run(app, "search", "borrowing")
    assert res.exit_code == 0, res.output
    assert "Rust lifetimes" in res.output and "borrowing" in res.output
    hits = json.loads(run(app, "search", "capital", "--json").output)
    assert len(hits) == 1 and hits[0]["conversation_id"] == filled["a"] and hits[0]["role"] == "user"
    assert "«capital»" in hits[0]["snippet"]
    res = run(app, "search", "nonexistentword")
    assert res.exit_code == 0 and "Nothing found" in res.output


def test_export_markdown_and_json_to_stdout_and_file(app, filled, tmp_path):
    res = run(app, "export", str(filled["a"]))
    assert res.exit_code == 0 and res.output.startswith("# What is the capital of France?")
    assert "<details>" not in res.output
    assert "<details>" in run(app, "export", str(filled["a"]), "--thinking").output
    out = tmp_path / "sub" / "conv.json"
    res = run(app, "export", str(filled["a"]), "--format", "json", "-o", str(out))
    assert res.exit_code == 0 and out.exists()
    assert json.loads(out.read_text())["messages"][1]["tool_calls"][0]["name"] == "lookup"
    md = tmp_path / "conv.md"
    assert run(app, "export", str(filled["b"]), "-f", "md", "-o", str(md)).exit_code == 0
    assert "Explain borrowing in Rust" in md.read_text()
    res = run(app, "export", str(filled["a"]), "--format", "pdf")
    assert isinstance(res.exception, UsageError)


def test_import_round_trip_and_bad_files(app, filled, tmp_path):
    out = tmp_path / "conv.json"
    run(app, "export", str(filled["a"]), "--format", "json", "-o", str(out))
    res = run(app, "import", str(out))
    assert res.exit_code == 0, res.output
    assert "Imported as conversation" in res.output and "(2 messages)" in res.output
    with Store() as s:
        new_id = max(c.id for c in s.list_conversations())
        keys = ("role", "content", "reasoning", "tool_calls", "status", "seq")
        assert [[getattr(m, k) for k in keys] for m in s.messages(new_id)] == \
            [[getattr(m, k) for k in keys] for m in s.messages(filled["a"])]
    res = run(app, "import", "-", input=out.read_text())
    assert res.exit_code == 0 and "Imported" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert isinstance(run(app, "import", str(bad)).exception, ImportFormatError)
    bad.write_text('{"format": "something else"}')
    assert isinstance(run(app, "import", str(bad)).exception, ImportFormatError)
    assert isinstance(run(app, "import", str(tmp_path / "missing.json")).exception, UsageError)


def test_rename(app, filled):
    res = run(app, "rename", str(filled["b"]), "Borrow checker")
    assert res.exit_code == 0 and "Borrow checker" in res.output
    with Store() as s:
        assert s.get_conversation(filled["b"]).title == "Borrow checker"
    assert isinstance(run(app, "rename", "999", "x").exception, NotFoundError)
    assert isinstance(run(app, "rename", str(filled["b"]), "  ").exception, UsageError)


def test_delete_needs_yes_when_not_interactive(app, filled):
    res = run(app, "delete", str(filled["b"]))
    assert isinstance(res.exception, UsageError) and "--yes" in str(res.exception)
    res = run(app, "delete", str(filled["b"]), "--yes")
    assert res.exit_code == 0 and f"Deleted conversation {filled['b']}" in res.output
    with Store() as s:
        assert [c.id for c in s.list_conversations()] == [filled["a"]]
    assert isinstance(run(app, "delete", str(filled["b"]), "--yes").exception, NotFoundError)


def test_delete_asks_on_a_terminal(app, filled, monkeypatch):
    monkeypatch.setattr(history, "_interactive", lambda: True)
    res = run(app, "delete", str(filled["a"]), input="n\n")
    assert res.exit_code == 1 and "Kept it." in res.output
    with Store() as s:
        assert s.get_conversation(filled["a"])
    res = run(app, "delete", str(filled["a"]), input="y\n")
    assert res.exit_code == 0 and "Deleted" in res.output
    with Store() as s:
        assert [c.id for c in s.list_conversations()] == [filled["b"]]


def test_notice_about_a_moved_database_is_shown(app, isolated_dirs):
    from glmchat.settings import db_path

    db_path().parent.mkdir(parents=True, exist_ok=True)
    db_path().write_bytes(b"garbage" * 100)
    res = CliRunner().invoke(app, ["history", "list"])
    assert res.exit_code == 0
    assert "moved" in res.output and "No conversations yet." in res.output


@pytest.mark.slow
def test_history_module_imports_only_typer():
    code = ("import sys, glmchat.commands.history as h; "
            "bad = [m for m in ('sqlite3', 'rich', 'glmchat.store', 'json') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_real_cli_json_and_clean_error(filled):
    """Through `python -m glmchat`: scripts get JSON; errors are one clean message and an exit code."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    res = subprocess.run([sys.executable, "-m", "glmchat", "history", "list", "--json"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert {c["id"] for c in json.loads(res.stdout)} == {filled["a"], filled["b"]}
    res = subprocess.run([sys.executable, "-m", "glmchat", "history", "show", "4242"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "No conversation 4242." in res.stderr and "Traceback" not in res.stderr
