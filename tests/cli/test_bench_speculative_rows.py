"""`glmchat bench --speculative-rows`: tg on free text and on a copy task, with and without speculative
decoding, the per-round ratios and the acceptance; the default run stays without them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glmchat.engine.base import Usage
from glmchat.speculative_bench import COPY_CODE, COPY_PROMPT, TASKS, speculative_lines, summarize


def glmchat_bench(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "glmchat", "bench", *args], capture_output=True, text=True, timeout=timeout)


def test_the_copy_task_asks_for_code_from_its_prompt():
    assert COPY_PROMPT.endswith(COPY_CODE) and COPY_CODE.count("\n") == 65 and "Repeat" in COPY_PROMPT
    assert list(TASKS) == ["free", "copy"]


def test_summary_takes_the_median_of_per_round_ratios_and_the_acceptance():
    def u(rate: float, drafted: int = 0, accepted: int = 0) -> Usage:
        return Usage(completion_tokens=32, generation_tokens_per_second=rate, draft_tokens=drafted, accepted_draft_tokens=accepted)

    row = summarize("copy", [u(100), u(50), u(80)], [u(150, 40, 30), u(100, 40, 20), u(80, 20, 10)])
    assert row["ratios"] == [1.5, 2.0, 1.0] and row["ratio_median"] == 1.5
    assert (row["draft_tokens"], row["accepted_draft_tokens"], row["acceptance"]) == (100, 60, 0.6)
    assert row["off_median_tps"] == 80 and row["on_median_tps"] == 100
    lines = speculative_lines({"mode": "auto", "runs": "ngram", "n_gen": 32, "temperature": 0.0, "tasks": [row]})
    assert "off against auto→ngram" in lines[0]
    assert "1.50×" in lines[-1] and "60% (60/100)" in lines[-1]


@pytest.mark.slow
def test_speculative_rows_in_json(smollm2_path):
    r = glmchat_bench("--model", str(smollm2_path), "-p", "0", "-n", "48", "-r", "2", "-t", "1", "--ctx", "1536",
                      "--speculative", "ngram", "--speculative-rows", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [x["test"] for x in data["results"]] == ["tg48"]  # the plain rows are still there
    rows = data["speculative_rows"]
    assert (rows["mode"], rows["runs"], rows["n_gen"], rows["temperature"]) == ("ngram", "ngram", 48, 0.0)
    tasks = {t["task"]: t for t in rows["tasks"]}
    assert set(tasks) == {"free", "copy"}
    for t in tasks.values():
        assert len(t["off_tps"]) == len(t["on_tps"]) == len(t["ratios"]) == 2
        assert all(v > 0 for v in t["off_tps"] + t["on_tps"])
        assert t["ratio_median"] > 0 and t["completion_tokens"] == [48, 48]
        assert 0 <= t["accepted_draft_tokens"] <= t["draft_tokens"]
    copy = tasks["copy"]
    assert copy["draft_tokens"] > 0 and copy["accepted_draft_tokens"] > 0  # the model copies: drafts hold
    assert copy["acceptance"] == copy["accepted_draft_tokens"] / copy["draft_tokens"]


@pytest.mark.slow
def test_speculative_rows_as_text_and_not_by_default(smollm2_path):
    r = glmchat_bench("--model", str(smollm2_path), "-p", "0", "-n", "24", "-r", "1", "-t", "1", "--ctx", "1536", "--speculative-rows")
    assert r.returncode == 0, r.stderr
    assert "speculative rows: tg24" in r.stdout and "off against auto" in r.stdout
    rows = [line.split() for line in r.stdout.splitlines()]
    assert [row[0] for row in rows if row and row[0] in ("free", "copy")] == ["free", "copy"]
    plain = glmchat_bench("--model", str(smollm2_path), "-p", "0", "-n", "8", "-r", "1", "-t", "1", "--ctx", "512", "--json")
    assert plain.returncode == 0, plain.stderr
    assert "speculative_rows" not in json.loads(plain.stdout)


@pytest.mark.slow
def test_speculative_rows_refuse_a_context_without_room_for_the_copy_task(smollm2_path):
    r = glmchat_bench("--model", str(smollm2_path), "-p", "0", "-n", "16", "-r", "1", "--ctx", "512", "--speculative-rows", timeout=120)
    assert r.returncode == 2, r.stderr
    assert "--speculative-rows needs a context of" in r.stderr and "--ctx" in r.stderr
