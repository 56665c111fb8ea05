"""`glmchat ask` end to end: the real CLI in a subprocess, on SmolLM2-135M and the tiny GLM model.

Every run uses the isolated config/data/cache directories from conftest (the environment is
inherited by the child), a small --max-tokens, a fixed --seed and --ctx 2048.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from glmchat.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--ctx", "2048", "--seed", "7"]
TIMEOUT = 240  # generous: this box has 2 cores, shared with other test runs


@pytest.fixture(autouse=True)
def one_thread(isolated_dirs):
    """config.toml in the isolated config dir: one llama.cpp thread (two spinning threads crawl when
    other test processes share this box's two cores)."""
    cfg = Path(os.environ["GLMCHAT_CONFIG_DIR"]) / "config.toml"
    cfg.write_text("[model]\nthreads = 1\n")
    return cfg


def glmchat(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = (prefix or []) + [sys.executable, "-m", "glmchat", *args]
    return subprocess.run(cmd, input=input if input is not None else "", capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=TIMEOUT)


def ask_json(*args: str, input: str | None = None) -> dict[str, Any]:
    res = glmchat("ask", "--json", *QUICK, *args, input=input)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def assert_clean_failure(res: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Exit `code`, a 'glmchat: …' message (plus at most one hint line), no traceback."""
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = err.splitlines()
    assert lines and lines[0].startswith("glmchat: ") and len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, err)
    return lines[0]


# ---- streaming a real answer (SmolLM2) -------------------------------------------------------------


def test_ask_streams_a_real_answer(smollm2_path):
    cmd = [sys.executable, "-m", "glmchat", "ask", "--model", str(smollm2_path), "--max-tokens", "24", *QUICK,
           "What is 2+2?"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = os.read(proc.stdout.fileno(), 4096)  # blocks until the first streamed piece arrives
        running_after_first = proc.poll() is None
        rest, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    answer = (first + rest).decode()
    assert proc.returncode == 0, err.decode()
    assert first, "nothing arrived on stdout"
    # the first bytes came while the model was still generating, and more followed
    assert running_after_first and rest
    assert answer.strip() and answer.endswith("\n")
    assert "Traceback" not in err.decode()


def test_json_fields_and_figures_agree(smollm2_path):
    out = ask_json("--model", str(smollm2_path), "--max-tokens", "16", "What is 2+2?")
    assert {"answer", "thinking", "tool_calls", "usage", "timings", "model", "profile"} <= set(out)
    assert out["answer"].strip() and out["thinking"] == "" and out["tool_calls"] == []
    assert out["profile"] == "general" and out["model"]
    usage, timings = out["usage"], out["timings"]
    assert usage["prompt_tokens"] > 0 and 1 <= usage["completion_tokens"] <= 16
    assert usage["stop_reason"] in ("stop", "length")
    assert timings["generation_time"] > 0 and timings["time_to_first_token"] > 0
    rate = usage["completion_tokens"] / timings["generation_time"]
    assert rate == pytest.approx(timings["generation_tokens_per_second"], rel=1e-9)
    assert timings["prompt_tokens_per_second"] == pytest.approx(
        (usage["prompt_tokens"] - usage["cached_prompt_tokens"]) / timings["prompt_time"], rel=1e-9)
    assert isinstance(out["conversation_id"], int)  # recorded in the history by default


# ---- thinking and answer kept apart (tiny GLM) -----------------------------------------------------


def test_thinking_and_answer_apart_and_prompt_from_stdin(tiny_glm_path):
    model = ["--model", str(tiny_glm_path), "--max-tokens", "24", "--no-history"]
    on = ask_json(*model, input="Say hello")  # the question on stdin
    assert on["thinking_mode"] == "on" and isinstance(on["answer"], str)
    assert on["thinking"], on  # the prompt opens <think>: text up to a </think> is thinking

    # the same question as an argument, same seed: the thinking goes to stderr (undimmed: no TTY)
    shown = glmchat("ask", *model, *QUICK, "--show-thinking", "Say hello")
    assert shown.returncode == 0, shown.stderr
    assert on["thinking"] in shown.stderr and "\x1b[" not in shown.stderr
    assert shown.stdout.strip() == on["answer"].strip()  # only the answer on stdout
    if on["usage"]["stop_reason"] == "length":  # the limit note starts its own line, after the thinking
        assert "[stopped at the token limit: 24 tokens]" in shown.stderr.splitlines()
    hidden = glmchat("ask", *model, *QUICK, "Say hello")
    assert hidden.returncode == 0 and on["thinking"] not in hidden.stderr + hidden.stdout

    off = ask_json(*model, "--no-think", "Say hello")
    assert off["thinking_mode"] == "off"
    assert off["answer"] and off["thinking"] == ""
    with Store() as store:
        assert store.list_conversations() == []  # --no-history recorded nothing


# ---- usage errors: exit 2 before any model loads ---------------------------------------------------


@pytest.mark.parametrize(
    "args, stdin, words",
    [
        (["ask", ""], None, "empty"),
        (["ask"], "   \n", "empty"),
        (["ask", "--no-think", "--think", "on", "hi"], None, "--no-think"),
        (["ask", "--think", "sometimes", "hi"], None, "thinking mode"),
        (["ask", "--profile", "nosuch", "hi"], None, "nosuch"),
        (["ask", "--model", "a.gguf", "--endpoint", "http://127.0.0.1:9/v1", "hi"], None, "--endpoint"),
        (["ask", "--no-history", "-c", "hi"], None, "--continue"),
    ],
)
def test_usage_errors_exit_2(args, stdin, words, tmp_path):
    # a model path that does not exist: these must fail on the options, before anything is opened
    res = glmchat(*args, "--model", str(tmp_path / "never-opened.gguf"), input=stdin) if "--model" not in args \
        else glmchat(*args, input=stdin)
    assert_clean_failure(res, 2, words)


@pytest.mark.parametrize("args", [["ask", "--bogus", "hi"], ["ask", "--max-tokens", "0", "hi"], ["ask", "--ctx", "12", "hi"]])
def test_bad_options_exit_2(args):
    res = glmchat(*args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stderr.strip()


# ---- bad model input: one clear message, exit 1 ----------------------------------------------------


def test_missing_path(tmp_path):
    assert_clean_failure(glmchat("ask", "--model", str(tmp_path / "nope.gguf"), "hi"), 1, "not found", "nope.gguf")


def test_directory(tmp_path):
    assert_clean_failure(glmchat("ask", "--model", str(tmp_path), "hi"), 1, "directory")


def test_not_a_gguf(tmp_path):
    p = tmp_path / "model.gguf"
    p.write_text("<html>404 Not Found</html>\n")
    assert_clean_failure(glmchat("ask", "--model", str(p), "hi"), 1, "not a GGUF")


def test_truncated_gguf(smollm2_path, tmp_path):
    p = tmp_path / "cut.gguf"
    with open(smollm2_path, "rb") as src:
        p.write_bytes(src.read(5 * 2**20))  # the first 5 MB
    assert_clean_failure(glmchat("ask", "--model", str(p), "hi"), 1, "truncated")


def _without_dac_override() -> list[str]:
    """A command prefix under which root obeys file permissions (we run as root in CI)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable to this process")
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_file(tiny_glm_path, tmp_path):
    prefix = _without_dac_override()
    p = tmp_path / "locked.gguf"
    shutil.copyfile(tiny_glm_path, p)
    p.chmod(0)
    res = glmchat("ask", "--model", str(p), "--no-history", "hi", prefix=prefix)
    assert_clean_failure(res, 1, "permission denied", str(p))


def test_file_in_unsearchable_directory(tiny_glm_path, tmp_path):
    prefix = _without_dac_override()
    d = tmp_path / "private"
    d.mkdir()
    shutil.copyfile(tiny_glm_path, d / "m.gguf")
    d.chmod(0o600)  # readable listing, no search (x) permission: the file cannot even be stat()ed
    try:
        res = glmchat("ask", "--model", str(d / "m.gguf"), "--no-history", "hi", prefix=prefix)
    finally:
        d.chmod(0o700)
    assert_clean_failure(res, 1, "ermission denied", "m.gguf")


# ---- Ctrl-C: exit 130, the partial answer on stdout and in the history ------------------------------


def test_ctrl_c_keeps_the_partial_answer(smollm2_path):
    cmd = [sys.executable, "-m", "glmchat", "ask", "--model", str(smollm2_path), "--max-tokens", "2000", *QUICK,
           "Write a very long story about a dragon who learns to bake bread."]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = os.read(proc.stdout.fileno(), 4096)
        assert first, proc.communicate(timeout=TIMEOUT)[1].decode()
        time.sleep(0.3)  # a few more tokens (not required: any point after the first piece will do)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shown = (first + rest).decode()
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode() and "Stopped" in err.decode()
    with Store() as store:
        conv = store.most_recent()
        assert conv is not None
        msgs = store.messages(conv.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    partial = msgs[1]
    assert partial.status == "cancelled"
    assert partial.content and partial.content.strip() == shown.strip()  # what was shown is what was kept
    assert partial.usage["stop_reason"] == "cancelled" and partial.usage["completion_tokens"] < 2000
    # and the history command sees it the same way
    res = glmchat("history", "show", str(conv.id), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["messages"][1]["status"] == "cancelled"


# ---- history: recorded, continued with -c, skipped with --no-history --------------------------------


def test_history_record_and_continue(tiny_glm_path):
    model = ["--model", str(tiny_glm_path), "--max-tokens", "20"]
    one = ask_json(*model, "-c", "--no-think", "Say hello")  # nothing to continue yet: a new conversation
    assert one["answer"] and isinstance(one["conversation_id"], int)
    two = ask_json(*model, "-c", "Say hello")  # the conversation's thinking mode (off) carries over
    assert two["conversation_id"] == one["conversation_id"] and two["thinking_mode"] == "off"
    # turn 2's prompt holds turn 1's exchange as well as the same question again
    assert two["usage"]["prompt_tokens"] > one["usage"]["prompt_tokens"] + 5
    three = ask_json(*model, "-c", "--think", "on", "Say hello")  # an explicit option wins over the stored one
    assert three["conversation_id"] == one["conversation_id"] and three["thinking_mode"] == "on"
    assert three["thinking"]

    with Store() as store:
        convs = store.list_conversations()
        assert [c.id for c in convs] == [one["conversation_id"]]
        assert convs[0].thinking_mode == "on" and convs[0].title == "Say hello"
        msgs = store.messages(one["conversation_id"])
    assert [m.role for m in msgs] == ["user", "assistant"] * 3
    assert [m.content for m in msgs[0::2]] == ["Say hello"] * 3
    assert msgs[1].content == one["answer"] and msgs[3].content == two["answer"]
    assert msgs[5].reasoning == three["thinking"]
    assert all(m.status == "complete" for m in msgs)
