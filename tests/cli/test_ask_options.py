"""`glmchat ask` options (issue 15): piped stdin after the question, -f files, sampling flags,
--conversation. In process, through `glmchat.cli.main` (exit codes, stderr) on a scripted engine.
"""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from glmchat import cli
from glmchat.commands import ask, ask_input
from glmchat.engine.scripted import ScriptedEngine
from glmchat.settings import BUILTIN_PROFILES
from glmchat.store import Store
from tests.fifo_support import call_within


@pytest.fixture
def engine(monkeypatch) -> ScriptedEngine:
    engine = ScriptedEngine(["Hmm.</think>Answer one.", "Hmm.</think>Answer two."])
    monkeypatch.setattr(ask, "open_engine", lambda settings, **kw: engine)
    return engine


class Pipe(io.TextIOWrapper):
    """A piped stdin: bytes, not a terminal; counts how much was read from it."""

    def __init__(self, data: bytes) -> None:
        self.raw_bytes = io.BytesIO(data)
        super().__init__(self.raw_bytes, encoding="utf-8")


class Terminal:
    """A terminal stdin: reading it would wait for the user, so any read fails the test."""

    def isatty(self) -> bool:
        return True

    def read(self, *a):  # pragma: no cover - the assertion is that this never runs
        pytest.fail("a terminal stdin was read although the question was an argument")

    readline = read

    @property
    def buffer(self):  # pragma: no cover
        pytest.fail("a terminal stdin was read although the question was an argument")


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ask", *args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def sent(engine: ScriptedEngine, n: int = 0) -> str:
    return engine.requests[n].messages[-1]["content"]


# ---- stdin ---------------------------------------------------------------------------------------


def test_piped_stdin_goes_after_the_question(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe(b"def f():\n    return 1\n"))
    code, out, _ = run_cli(["Explain this code"], capsys)
    assert code == 0 and out == "Answer one.\n"
    assert sent(engine) == "Explain this code\n\nstdin\n```\ndef f():\n    return 1\n```"
    with Store() as s:
        assert [c.title for c in s.list_conversations()] == ["Explain this code"]  # the question, not the pipe


def test_without_a_question_stdin_is_the_question(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe(b"what is 2+2?\n"))
    assert run_cli([], capsys)[0] == 0
    assert sent(engine) == "what is 2+2?"


def test_a_terminal_stdin_is_never_read_when_the_question_is_given(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert run_cli(["hello"], capsys)[0] == 0
    assert sent(engine) == "hello"


def test_an_empty_pipe_adds_nothing(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe(b"\n"))
    assert run_cli(["hello"], capsys)[0] == 0
    assert sent(engine) == "hello"


def test_stdin_past_the_limit_is_refused_without_reading_it_all(engine, monkeypatch, capsys):
    monkeypatch.setattr(ask_input, "MAX_STDIN_BYTES", 1000)
    pipe = Pipe(b"x" * 5000)
    monkeypatch.setattr(sys, "stdin", pipe)
    code, out, err = run_cli(["summarise"], capsys)
    assert code == 2 and out == "" and "stdin holds more than" in err and "Traceback" not in err
    assert pipe.raw_bytes.tell() <= 1000 + 8192  # stopped near the limit (one buffer at most), not at the end
    assert engine.requests == []


def test_binary_stdin_is_refused(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    code, _, err = run_cli(["what is this"], capsys)
    assert code == 2 and "looks binary" in err and "offset 8" in err
    assert engine.requests == []


def test_stdin_that_is_not_utf8_arrives_as_replacement_characters(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe(b"caf\xe9\n"))
    assert run_cli(["translate"], capsys)[0] == 0
    assert sent(engine) == "translate\n\nstdin\n```\ncaf\ufffd\n```"


# ---- -f / --file ---------------------------------------------------------------------------------


def test_files_are_attached_in_order_like_read(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("print('a')\n")
    (tmp_path / "notes.txt").write_text("one\ntwo\nthree\nfour\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "b.md").write_text("# B\n")
    code, _, err = run_cli(["Compare", "-f", "a.py", "--file", "notes.txt:2-3", "-f", str(other / "b.md")], capsys)
    assert code == 0, err
    assert sent(engine) == (
        "Compare\n\na.py\n```\nprint('a')\n```\n\nnotes.txt:2-3\n```\ntwo\nthree\n```"
        f"\n\n{other / 'b.md'}\n```\n# B\n```"
    )


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "too long", "not utf-8", "bad range"])
def test_a_file_that_cannot_be_attached_is_a_usage_error(kind, engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.chdir(tmp_path)
    target = {"missing": "nope.txt", "directory": "sub", "binary": "x.bin", "too long": "big.txt",
              "not utf-8": "latin.txt", "bad range": "ok.txt:5-2"}[kind]
    (tmp_path / "sub").mkdir()
    (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "big.txt").write_text("y" * 70_000)
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    (tmp_path / "ok.txt").write_text("a\nb\nc\nd\ne\nf\n")
    code, out, err = run_cli(["q", "-f", target], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"-f {target}" in err
    assert engine.requests == []  # refused before the model is asked anything


def test_a_fifo_is_refused_at_once(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = call_within(lambda: run_cli(["q", "-f", str(fifo)], capsys), tmp_path, limit=3.0)
    code, _, err = result
    assert code == 2 and "-f" in err and engine.requests == []


# ---- sampling --------------------------------------------------------------------------------------


def test_sampling_flags_override_the_profile_for_this_call_only(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    args = ["hi", "--json", "--temperature", "0.2", "--top-p", "0.5", "--top-k", "7", "--min-p", "0.1"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    s = engine.requests[0].sampling
    assert (s.temperature, s.top_p, s.top_k, s.min_p) == (0.2, 0.5, 7, 0.1)
    obj = json.loads(out)
    assert obj["sampling"]["temperature"] == 0.2 and obj["sampling"]["top_k"] == 7 and obj["profile"] == "general"
    code, out, _ = run_cli(["again", "-c", "--json"], capsys)  # the next call: the profile's own values
    general = BUILTIN_PROFILES["general"]
    s = engine.requests[1].sampling
    assert (s.temperature, s.top_p, s.top_k, s.min_p) == (general.temperature, general.top_p, general.top_k, general.min_p)
    assert json.loads(out)["sampling"]["temperature"] == general.temperature


@pytest.mark.parametrize("flag, value", [("--temperature", "9"), ("--temperature", "nan"), ("--top-p", "1.5"),
                                         ("--top-k", "-1"), ("--min-p", "-0.1")])
def test_sampling_flags_out_of_range_are_usage_errors(flag, value, engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, _, err = run_cli(["hi", flag, value], capsys)
    assert code == 2 and flag in err and engine.requests == []


# ---- --conversation ------------------------------------------------------------------------------


def test_conversation_continues_that_conversation(engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, out, _ = run_cli(["first", "--json"], capsys)
    first = json.loads(out)["conversation_id"]
    engine.scripts.append("Hmm.</think>Answer three.")
    assert run_cli(["unrelated"], capsys)[0] == 0  # a newer conversation: -c would pick this one
    code, out, _ = run_cli(["follow-up", "--conversation", str(first), "--json"], capsys)
    assert code == 0 and json.loads(out)["conversation_id"] == first
    assert [m["content"] for m in engine.requests[2].messages if m["role"] == "user"] == ["first", "follow-up"]


@pytest.mark.parametrize("extra, words", [([], "no conversation 999"), (["-c"], "--continue and --conversation"),
                                          (["--no-history"], "--conversation needs the history")])
def test_conversation_errors_are_usage_errors(extra, words, engine, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, out, err = run_cli(["hi", "--conversation", "999", *extra], capsys)
    assert code == 2 and out == "" and words in err.lower()
    assert engine.requests == []


# ---- a real pipe (a subprocess) ------------------------------------------------------------------


@pytest.mark.slow
def test_an_endless_pipe_is_refused_not_read_forever():
    import subprocess

    yes = subprocess.Popen(["yes", "more text"], stdout=subprocess.PIPE)
    try:
        res = subprocess.run([sys.executable, "-m", "glmchat", "ask", "summarise this"], check=False, stdin=yes.stdout,
                             capture_output=True, text=True, timeout=60)
    finally:
        yes.kill()
        yes.wait()
        yes.stdout.close()
    assert res.returncode == 2 and "stdin holds more than 1 MiB" in res.stderr and "Traceback" not in res.stderr
