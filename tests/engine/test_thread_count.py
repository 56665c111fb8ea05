"""`[model] threads = 100000` (or `n_threads` beyond the machine) no longer crashes llama.cpp: the
count is clamped to the CPUs this process may use, and `info.details["notes"]` says so."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from glmchat.engine.devices import physical_cores, usable_cpus
from glmchat.engine.llama_params import choose_threads


def test_a_thread_count_beyond_the_machine_is_clamped_with_a_note():
    notes: list[str] = []
    assert choose_threads(100_000, notes, usable=8) == 8
    assert notes == ["threads 100000 clamped to the 8 CPUs this process may use"]
    notes.clear()
    assert choose_threads(100_000, notes) == usable_cpus() and len(notes) == 1


def test_counts_within_the_machine_and_the_default_are_kept():
    notes: list[str] = []
    assert choose_threads(3, notes, usable=8) == 3 and choose_threads(8, notes, usable=8) == 8
    assert choose_threads(None, notes) == physical_cores()
    assert notes == []


LOAD = textwrap.dedent(
    """
    import json, sys
    from glmchat.engine.base import ChatRequest, SamplingParams
    from glmchat.engine.factory import open_engine
    from glmchat.settings import load_settings

    settings = load_settings()
    settings.model.threads = 100000  # as `[model] threads = 100000` in config.toml
    engine = open_engine(settings, model=sys.argv[1], n_ctx=512)
    request = ChatRequest(messages=[{"role": "user", "content": "Hi"}], sampling=SamplingParams(max_tokens=4))
    items = list(engine.stream(request))
    print(json.dumps({"threads": engine.info.details["threads"], "notes": engine.info.details["notes"],
                      "stop": items[-1].usage.stop_reason}))
    engine.close()
    """
)


@pytest.mark.slow
def test_loading_a_real_model_with_100000_threads_does_not_crash(smollm2_path):
    # in a child process: the old code died of SIGSEGV, which would take the test run with it
    proc = subprocess.run([sys.executable, "-c", LOAD, str(smollm2_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["threads"] == usable_cpus() and out["stop"] in ("stop", "length")
    assert f"threads 100000 clamped to the {usable_cpus()} CPUs this process may use" in out["notes"]
