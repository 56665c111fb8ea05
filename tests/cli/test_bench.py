"""`glmchat bench`: pp and tg through the engine's own path, median of runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glmchat.bench import Measurement, prompt_of


def test_measurement_median_and_dict():
    m = Measurement("tg8", 8, [10.0, 30.0, 20.0])
    assert m.median == 20.0 and m.to_dict()["runs_tps"] == [10.0, 30.0, 20.0]


@pytest.mark.slow
def test_bench_json_on_the_small_model(smollm2_path):
    r = subprocess.run(
        [sys.executable, "-m", "glmchat", "bench", "--model", str(smollm2_path), "-p", "64", "-n", "16", "-r", "2", "-t", "1", "--ctx", "512", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    tests = {x["test"]: x for x in data["results"]}
    assert set(tests) == {"pp64", "tg16"}
    for x in tests.values():
        assert len(x["runs_tps"]) == 2 and all(v > 0 for v in x["runs_tps"])
    assert data["backend"] == "CPU" and data["plan"] == "CPU only"


@pytest.mark.slow
def test_prompt_of_hits_the_requested_length(smollm2_path):
    from glmchat.engine.local import LocalEngine

    engine = LocalEngine.load(smollm2_path, n_ctx=1024, n_threads=1)
    try:
        req = prompt_of(engine, 200)
        assert 190 <= engine.count_tokens(req) <= 200
    finally:
        engine.close()


@pytest.mark.slow
def test_bench_refuses_a_too_small_context(smollm2_path):
    r = subprocess.run([sys.executable, "-m", "glmchat", "bench", "--model", str(smollm2_path), "--ctx", "256"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "too small" in r.stderr


@pytest.mark.slow
def test_engine_speed_runs_glmchat_bench_beside_the_engine(smollm2_path):
    """benchmarks/engine_speed.py runs the in-process engine and `glmchat bench` in one go and compares them."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_speed.py"
    r = subprocess.run(
        [sys.executable, str(script), "--model", str(smollm2_path), "--threads", "1", "--n-gen", "8", "--reps", "1", "--n-ctx", "512", "--skip-high-level", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by_name = {x["name"]: x for x in data["results"]}
    assert set(by_name) == {"glmchat", "glmchat-bench"}
    assert by_name["glmchat"]["tokens"] == [8] and len(by_name["glmchat-bench"]["rates"]) == 1
    ratio = data["ratios"]["glmchat-bench/glmchat"]
    assert ratio == by_name["glmchat-bench"]["median"] / by_name["glmchat"]["median"]
    assert 0.3 < ratio < 3  # same code path; the ±5% check needs a quiet machine and more tokens
