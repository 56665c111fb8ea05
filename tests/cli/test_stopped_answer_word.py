"""A stopped answer is "stopped" wherever people read it (the TUI's word); the stored value stays."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from glmchat.commands import history
from glmchat.store import Store


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        pass

    history.register(app)
    return app


def _conversation_with_a_stopped_answer() -> int:
    with Store() as s:
        conv = s.create_conversation(title="Stopped one")
        s.add_message(conv.id, "user", "Count to a million")
        s.add_message(conv.id, "assistant", "1, 2, 3", status="cancelled")
        return conv.id


def run(*args: str):
    return CliRunner().invoke(_app(), ["history", *args], env={"COLUMNS": "120"})


def test_history_show_and_export_say_stopped(isolated_dirs):
    cid = _conversation_with_a_stopped_answer()
    shown = run("show", str(cid))
    assert shown.exit_code == 0, shown.output
    assert "(stopped)" in shown.output and "cancelled" not in shown.output
    md = run("export", str(cid))
    assert md.exit_code == 0, md.output
    assert "*(stopped)*" in md.output and "cancelled" not in md.output


def test_json_keeps_the_stored_status(isolated_dirs):
    cid = _conversation_with_a_stopped_answer()
    data = json.loads(run("show", str(cid), "--json").output)
    assert data["messages"][1]["status"] == "cancelled"  # the schema's value, for programs
