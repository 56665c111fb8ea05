"""Escape injection on the command line (issue 14), written as the attack: a model that answers,
thinks and calls tools in escape sequences (OSC 52 clipboard, OSC 0 title, CSI 2J, 8-bit CSI, bidi),
and a stored conversation full of them. On a terminal `glmchat ask` and `glmchat history` write them
as inert text; to a pipe `ask` writes the model's answer byte-exact."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tty
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from glmchat.commands.event_printer import EventPrinter
from glmchat.commands import ask, history
from glmchat.engine.scripted import ScriptedEngine
from glmchat.glm import Answer, IncompleteToolCall, Thinking, ToolCall
from glmchat.session_events import Notice, ToolResultEvent
from glmchat.store import Store
from tests.hostile_text import HOSTILE, HOSTILE_NAME, HOSTILE_TEXT, SHOWN_OSC52, SHOWN_TITLE, controls_in

ROOT = Path(__file__).resolve().parents[2]
OWN = ("\x1b[2m", "\x1b[0m", "\r\x1b[K")  # ask's own: dim thinking, the self-erasing progress line
ANSWER = f"The file says: {HOSTILE_TEXT}"


def glmchat_wrote(text: str) -> list[str]:
    """Controls in `text` other than ask's own codes."""
    for code in OWN:
        text = text.replace(code, "")
    return controls_in(text)


class Pty:
    """A pseudo-terminal in raw mode (no CRLF translation): `.slave` is what the program writes to."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)

    def read(self, timeout: float = 0.2) -> str:
        data = b""
        while select.select([self.master], [], [], timeout)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the slave side closed
                break
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8")

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty_():
    p = Pty()
    yield p
    p.close()


def hostile_events() -> list:
    call = ToolCall(name=f"read_file{HOSTILE}", arguments={"path": HOSTILE_NAME}, raw="")
    half = len(HOSTILE) // 2  # a sequence cut between two streamed pieces
    return [Thinking(f"thinking {HOSTILE[:half]}"), Thinking(HOSTILE[half:]), Answer(ANSWER[:20]), Answer(ANSWER[20:]),
            call, ToolResultEvent(call, HOSTILE_TEXT, True, "auto"), IncompleteToolCall(None, f"<tool_call>{HOSTILE}"),
            Notice(f"note {HOSTILE}")]


def test_ask_printer_on_a_terminal_writes_the_attack_as_text(pty_):
    with open(pty_.slave, "w", closefd=False) as term:
        printer = EventPrinter(term, term, show_thinking=True)
        for ev in hostile_events():
            printer.handle(ev)
        term.flush()
    shown = pty_.read()
    assert glmchat_wrote(shown) == [], glmchat_wrote(shown)[:10]
    assert SHOWN_OSC52 in shown and SHOWN_TITLE in shown and "needle" in shown
    assert printer.answer == ANSWER  # what is kept (history, --json) is the model's text


def test_ask_printer_to_a_pipe_writes_the_answer_byte_exact():
    r, w = os.pipe()
    with os.fdopen(w, "w") as out, open(os.devnull, "w") as err:
        printer = EventPrinter(out, err)
        for ev in hostile_events():
            printer.handle(ev)
    with os.fdopen(r) as pipe:
        assert pipe.read() == ANSWER


def test_ask_json_on_a_terminal_is_the_same_value_without_controls(monkeypatch, pty_, tmp_path):
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: ScriptedEngine([f"{HOSTILE}</think>{ANSWER}"]))
    with open(pty_.slave, "w", closefd=False) as term:
        monkeypatch.setattr(sys, "stdout", term)
        assert ask.run_ask(ask.AskOptions(prompt="hi", as_json=True, no_history=True, workspace=tmp_path)) == 0
        term.flush()
    shown = pty_.read()
    assert controls_in(shown) == []
    obj = json.loads(shown)
    assert obj["answer"] == ANSWER and obj["thinking"] == HOSTILE


# ---- glmchat history ---------------------------------------------------------------------------


@pytest.fixture
def hostile_conv(isolated_dirs) -> int:
    with Store() as s:
        c = s.create_conversation(title=f"title {HOSTILE}", model=f"GLM{HOSTILE}")
        s.add_message(c.id, "user", f"needle question {HOSTILE}")
        s.add_message(c.id, "assistant", ANSWER, reasoning=f"thought {HOSTILE}",
                      tool_calls=[{"id": "c1", "name": f"read_file{HOSTILE}", "arguments": {"path": HOSTILE_NAME}}])
        s.add_message(c.id, "tool", HOSTILE_TEXT, name=f"read_file{HOSTILE}", tool_call_id="c1")
        return c.id


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        pass

    history.register(app)
    return app


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["history", *args], env={"COLUMNS": "200"})


def test_history_show_list_and_search_print_the_attack_as_text(cli, hostile_conv):
    for args in (("show", str(hostile_conv), "--thinking"), ("list",), ("search", "needle")):
        res = run(cli, *args)
        assert res.exit_code == 0, res.output
        assert controls_in(res.output) == [], (args, controls_in(res.output)[:10])
        assert SHOWN_OSC52 in res.output, args
    assert "needle" in run(cli, "show", str(hostile_conv)).output


def test_history_json_keeps_every_character_and_writes_none_raw(cli, hostile_conv):
    res = run(cli, "show", str(hostile_conv), "--json")
    assert controls_in(res.output) == []
    data = json.loads(res.output)
    assert data["messages"][1]["content"] == ANSWER and data["conversation"]["title"] == f"title {HOSTILE}"  # lossless


# ---- the real command line: a terminal (pty) and a pipe --------------------------------------------


def _glmchat(args: list[str], stdout, stderr) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "glmchat", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr)


@pytest.mark.slow
def test_history_show_on_a_real_terminal(hostile_conv, pty_):
    proc = _glmchat(["history", "show", str(hostile_conv), "--thinking"], pty_.slave, pty_.slave)
    assert proc.wait(60) == 0
    shown = pty_.read()
    assert "needle" in shown and SHOWN_OSC52 in shown
    assert "\x1b]" not in shown and "\x1b[2J" not in shown and "\x07" not in shown and "\u009b" not in shown


@pytest.mark.slow
def test_ask_on_a_real_terminal_and_through_a_pipe(pty_, tmp_path):
    from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

    half = len(HOSTILE) // 2
    with ScriptedServer() as srv:
        reply = SSE(vllm_chunks(reasoning=[f"thought {HOSTILE}"], content=[ANSWER[:20], ANSWER[20:]]))
        srv.reply(reply, reply)
        args = ["ask", "--endpoint", srv.base_url, "--no-history", "--show-thinking", f"q {HOSTILE[:half]}"]
        proc = _glmchat(args, pty_.slave, pty_.slave)
        assert proc.wait(60) == 0
        shown = pty_.read()
        assert glmchat_wrote(shown) == [] and "needle" in shown and SHOWN_OSC52 in shown
        piped = subprocess.run([sys.executable, "-m", "glmchat", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
        assert piped.returncode == 0, piped.stderr.decode()
        assert piped.stdout == ANSWER.encode()  # byte-exact, as a script expects (it ends with a newline)


def test_ask_help_says_what_a_terminal_and_a_pipe_get():
    from glmchat import cli as glmchat_cli

    res = CliRunner().invoke(glmchat_cli.app, ["ask", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "made visible" in res.output and "byte for byte" in res.output


# ---- names from the disk, GGUF files and servers -------------------------------------------------


def test_doctor_names_a_hostile_model_file_as_text(tmp_path):
    from glmchat import cli as glmchat_cli

    bad = tmp_path / f"{HOSTILE_NAME}.gguf"
    bad.write_bytes(b"not a gguf at all")
    res = CliRunner().invoke(glmchat_cli.app, ["doctor", "--model", str(bad)], env={"COLUMNS": "200"})
    assert "evil" in res.output and SHOWN_OSC52 in res.output
    assert controls_in(res.output) == []



def test_an_error_naming_a_hostile_file_reaches_a_terminal_as_text(monkeypatch, pty_, tmp_path):
    """`glmchat: …` error lines name files and servers: a missing --model with a hostile name."""
    from glmchat import cli as glmchat_cli

    with open(pty_.slave, "w", closefd=False) as term:
        monkeypatch.setattr(sys, "stderr", term)
        with pytest.raises(SystemExit):
            glmchat_cli.main(["ask", "--no-history", "--model", str(tmp_path / HOSTILE_NAME), "hi"])
        term.flush()
    shown = pty_.read()
    assert "glmchat: " in shown and "evil" in shown and SHOWN_OSC52 in shown
    assert glmchat_wrote(shown) == []

def test_models_lists_a_servers_hostile_names_as_text():
    from glmchat import cli as glmchat_cli
    from tests.scripted_sse import ScriptedServer

    with ScriptedServer(models=[{"id": f"glm{HOSTILE}", "object": "model"}]) as srv:
        res = CliRunner().invoke(glmchat_cli.app, ["models", "--endpoint", srv.base_url])
    assert res.exit_code == 0, res.output
    assert SHOWN_OSC52 in res.output and controls_in(res.output) == []
