"""`--speculative` on ask, bench, serve and acp: the mode reaches the engine, `ask --json` timings and `bench`
report drafted/accepted tokens, "mtp" on a file without a NextN layer drafts n-grams with a note,
bad values exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_speculative import COPY_PROMPT

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread(isolated_dirs):
    # flash attention off: its CPU kernel rounds batched queries differently (glmchat.engine.speculative)
    (Path(os.environ["GLMCHAT_CONFIG_DIR"]) / "config.toml").write_text("[model]\nthreads = 1\nflash_attn = false\n")


def glmchat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "glmchat", *args], input="", capture_output=True, text=True, cwd=ROOT, timeout=240)


@pytest.mark.parametrize("command", [["ask"], ["serve"], ["acp"]], ids=["ask", "serve", "acp"])
def test_unknown_mode_exits_2_with_the_choices(tmp_path, command):
    extra = ["hi"] if command == ["ask"] else []
    res = glmchat(*command, "--speculative", "fast", "--model", str(tmp_path / "never-opened.gguf"), *extra)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "fast" in res.stderr and "ngram" in res.stderr


def test_ask_json_timings_count_drafts(smollm2_path):
    runs = {}
    for mode in ("off", "ngram"):
        res = glmchat("ask", "--json", "--no-history", "--ctx", "2048", "--temperature", "0", "--max-tokens", "96",
                      "--speculative", mode, "--model", str(smollm2_path), COPY_PROMPT)
        assert res.returncode == 0, res.stderr
        runs[mode] = json.loads(res.stdout)
    off, ngram = runs["off"]["timings"], runs["ngram"]["timings"]
    assert off["draft_tokens"] == 0 and off["accepted_draft_tokens"] == 0
    assert ngram["draft_tokens"] > 0 and 0 < ngram["accepted_draft_tokens"] <= ngram["draft_tokens"]
    assert runs["ngram"]["answer"] == runs["off"]["answer"]  # greedy: the same answer either way


def test_bench_says_mtp_without_a_nextn_layer_drafts_ngrams(smollm2_path):
    res = glmchat("bench", "--model", str(smollm2_path), "-p", "0", "-n", "16", "-r", "1", "--ctx", "512",
                  "--speculative", "mtp", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["speculative"]["mode"] == "mtp" and data["speculative"]["runs"] == "ngram"
    assert "no NextN" in data["speculative"]["note"] and data["speculative"]["nextn_layers"] == 0
