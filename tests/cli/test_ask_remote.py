"""`glmchat ask --endpoint URL` end to end against llama-cpp-python's own OpenAI-compatible server.

The server (SmolLM2-135M, one thread, 127.0.0.1 on a free port) comes from the `server` fixture of
tests/llama_server.py, started once for this module and stopped at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glmchat.store import Store
from tests.llama_server import _free_port, _server_importable, server  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(
        not _server_importable(),
        reason="llama-cpp-python's server is not installed (pip install 'llama-cpp-python[server]')",
    ),
    pytest.mark.slow,
]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


def popen_ask(*args: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "glmchat", "ask", "--seed", "1", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_ask(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "glmchat", "ask", "--seed", "1", *args]
    return subprocess.run(cmd, cwd=ROOT, input="", capture_output=True, text=True, timeout=TIMEOUT)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    try:
        return proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ask_endpoint_streams(server):
    proc = popen_ask("--endpoint", server, "--max-tokens", "32", "Name three colours.")
    first = os.read(proc.stdout.fileno(), 4096)  # the first streamed piece
    running_after_first = proc.poll() is None
    rest, err = _finish(proc)
    assert proc.returncode == 0, err.decode()
    assert first and rest and running_after_first  # arrived while the server was still generating
    answer = (first + rest).decode()
    assert answer.strip() and answer.endswith("\n")
    assert "Traceback" not in err.decode()


def test_ask_endpoint_json_and_history(server, smollm2_path):
    res = run_ask("--endpoint", server, "--max-tokens", "12", "--json", "What is 2+2?")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {"answer", "thinking", "tool_calls", "usage", "timings", "model", "profile"} <= set(out)
    assert out["answer"].strip() and out["thinking"] == "" and out["tool_calls"] == []
    assert out["model"] == smollm2_path.stem and out["backend"] == "remote"
    assert out["usage"]["prompt_tokens"] > 0 and 1 <= out["usage"]["completion_tokens"] <= 12
    assert out["timings"]["generation_tokens_per_second"] > 0
    with Store() as store:
        msgs = store.messages(out["conversation_id"])
        conv = store.get_conversation(out["conversation_id"])
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].content == out["answer"] and conv.model == smollm2_path.stem


def test_remote_base_url_from_config(server):
    """[remote] base_url in config.toml selects the server without --endpoint."""
    cfg = Path(os.environ["GLMCHAT_CONFIG_DIR"]) / "config.toml"
    cfg.write_text(f'[remote]\nbase_url = "{server}"\n')
    res = run_ask("--max-tokens", "8", "--json", "--no-history", "Say hi.")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["backend"] == "remote" and out["answer"].strip()


def test_ctrl_c_on_a_remote_stream(server):
    proc = popen_ask("--endpoint", server, "--max-tokens", "1500", "Write a very long story about a dragon and a knight.")
    first = os.read(proc.stdout.fileno(), 4096)
    assert first, _finish(proc)[1].decode()
    proc.send_signal(signal.SIGINT)
    rest, err = _finish(proc)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    with Store() as store:
        conv = store.most_recent()
        msgs = store.messages(conv.id)
    assert msgs[-1].role == "assistant" and msgs[-1].status == "cancelled"
    assert msgs[-1].content.strip() == (first + rest).decode().strip()
    # the server is free again for the next question
    res = run_ask("--endpoint", server, "--max-tokens", "6", "--no-history", "Say hello.")
    assert res.returncode == 0 and res.stdout.strip(), res.stderr


def test_refused_connection():
    port = _free_port()  # nothing listens there
    res = run_ask("--endpoint", f"http://127.0.0.1:{port}/v1", "--no-history", "hi")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("glmchat: ")
    assert f"127.0.0.1:{port}" in lines[0] and "refused" in lines[0]
