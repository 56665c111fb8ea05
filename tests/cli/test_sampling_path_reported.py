"""`glmchat doctor` and `glmchat bench` say where tokens are sampled ([model] backend_sampling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glmchat import doctor
from glmchat.settings import load_settings


def _config(text: str) -> None:
    (Path(os.environ["GLMCHAT_CONFIG_DIR"]) / "config.toml").write_text(text)


def test_doctor_names_the_sampling_path_of_the_configured_mode():
    _config('[model]\nbackend_sampling = "off"\n')
    lines = doctor.render(doctor.report(None, 4096, settings=load_settings())).splitlines()
    assert 'Sampling: CPU chain (backend_sampling = "off")' in lines
    _config('[model]\nbackend_sampling = "on"\n')
    rep = doctor.report(None, 4096, settings=load_settings())
    assert rep["sampling"]["mode"] == "on"
    assert rep["sampling"]["path"].startswith("in-graph (backend) wherever llama.cpp accepts the chain")


def test_an_unknown_backend_sampling_mode_is_refused():
    from glmchat.errors import GlmchatError

    _config('[model]\nbackend_sampling = "gpu"\n')
    with pytest.raises(GlmchatError):
        load_settings()


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "expected"), [("on", "in-graph (backend)"), ("off", 'CPU chain (backend_sampling = "off")')])
def test_bench_prints_the_sampling_path(smollm2_path, mode, expected):
    _config(f'[model]\nthreads = 1\nbackend_sampling = "{mode}"\n')
    base = [sys.executable, "-m", "glmchat", "bench", "--model", str(smollm2_path), "-p", "0", "-n", "8", "-r", "1", "--ctx", "512"]
    r = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sampling"] == expected
    if mode == "on":
        r = subprocess.run(base, capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr
        assert f"sampling: {expected}" in r.stdout.splitlines()


@pytest.mark.slow
def test_engine_speed_compares_both_sampling_paths(smollm2_path):
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_speed.py"
    r = subprocess.run(
        [sys.executable, str(script), "--model", str(smollm2_path), "--threads", "1", "--n-gen", "8", "--reps", "1", "--n-ctx", "512",
         "--skip-high-level", "--skip-glmchat-bench", "--sampling", "both", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = {x["name"]: x for x in data["results"]}
    assert set(names) == {"glmchat", "glmchat-graph"}
    assert all(v > 0 for x in names.values() for v in x["rates"])
    assert data["sampling"] == "both" and "glmchat-graph/glmchat (median per round)" in data["ratios_per_round"]
