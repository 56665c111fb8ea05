"""`glmchat serve` as a process: it binds 127.0.0.1, answers the openai client on the small model,
writes its request log (0600) in the data directory; a missing key variable is refused up front."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import openai
import pytest

from tests.serve.serve_support import free_port, httpx


def test_missing_api_key_variable_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GLMCHAT_SERVE_TEST_KEY"}
    r = subprocess.run([sys.executable, "-m", "glmchat", "serve", "--api-key-env", "GLMCHAT_SERVE_TEST_KEY"],
                       capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 2 and "GLMCHAT_SERVE_TEST_KEY" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_serve_process_answers_the_openai_client(smollm2_path):
    port = free_port()
    env = dict(os.environ, SERVE_KEY="the-key-42")
    proc = subprocess.Popen([sys.executable, "-m", "glmchat", "serve", "--model", str(smollm2_path), "--ctx", "1024",
                             "--port", str(port), "--api-key-env", "SERVE_KEY"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", headers={"Authorization": "Bearer the-key-42"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "glmchat serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{url}/models").status_code == 401
        r = openai.OpenAI(base_url=url, api_key="the-key-42").chat.completions.create(
            model="smol", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        assert r.usage.completion_tokens > 0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "the-key-42" not in err and f"127.0.0.1:{port}" in err
    log = os.path.join(os.environ["GLMCHAT_DATA_DIR"], "serve.log")
    assert (os.stat(log).st_mode & 0o777) == 0o600
    with open(log) as f:
        assert "/v1/chat/completions 200" in f.read()
