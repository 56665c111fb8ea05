"""llama-cpp-python's own OpenAI-compatible server on a free 127.0.0.1 port, serving SmolLM2-135M.

`server` is a module-scoped fixture: a test module that imports it starts one server for its tests
and stops it at the end.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from glmchat.engine.remote import list_models
from glmchat.errors import EngineError


def _server_importable() -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette"))
    except (ImportError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(smollm2_path: Path, tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048",
        # one thread: with two, ggml's spinning threads crawl when other tests share the two cores
        "--n_threads", "1", "--n_threads_batch", "1",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
            try:
                list_models(base_url, timeout=2)
                break
            except EngineError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not answer /v1/models in 90 s: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
