"""benchmarks/gpu_device.sh (the CUDA machine's benchmark run) and the scripts it drives: the shell parses,
`prepare` trims an sdist to what the CUDA build needs, the dry run goes through every non-CUDA step on
this CPU with the tiny model, and speculative_vs_llama_bench.py runs llama-bench at each task's depth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_device.sh"


def sh(*args: str, env: dict[str, str] | None = None, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


def test_the_script_parses_and_says_how_to_use_it():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    r = sh()
    assert r.returncode == 2 and "prepare" in r.stdout and "dry-run" in r.stdout


def fake_sdist(tmp_path: Path) -> Path:
    top = tmp_path / "sdist" / "llama_cpp_python-9.9.9"
    files = [
        "llama_cpp/__init__.py", "llama_cpp/server/app.py", "docs/index.md", ".git/modules/vendor/llama.cpp/objects/pack.pack",
        "vendor/llama.cpp/CMakeLists.txt", "vendor/llama.cpp/.git", "vendor/llama.cpp/models/ggml-vocab.gguf",
        "vendor/llama.cpp/src/llama.cpp", "vendor/llama.cpp/common/common.cpp", "vendor/llama.cpp/vendor/nlohmann/json.hpp",
        "vendor/llama.cpp/ggml/src/ggml-cuda/mmq.cu", "vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp", "vendor/llama.cpp/ggml/src/ggml-vulkan/v.cpp",
        "vendor/llama.cpp/ggml/src/ggml.c", "vendor/llama.cpp/tools/CMakeLists.txt", "vendor/llama.cpp/tools/llama-bench/llama-bench.cpp",
        "vendor/llama.cpp/tools/server/server.cpp", "vendor/llama.cpp/gguf-py/gguf/__init__.py", "vendor/llama.cpp/app/CMakeLists.txt",
    ]
    for name in files:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(name)
    out = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return out


def test_prepare_trims_the_sdist_to_the_cuda_build(tmp_path):
    carry = tmp_path / "carry"
    r = sh("prepare", env={"SDIST": str(fake_sdist(tmp_path)), "NO_WHEELS": "1", "CARRY": str(carry)})
    assert r.returncode == 0, r.stderr
    with tarfile.open(carry / "llama-src.tar.gz") as tar:
        names = {n.removeprefix("./") for n in tar.getnames()}
        tools = tar.extractfile("./vendor/llama.cpp/tools/CMakeLists.txt").read().decode()
    kept = ["llama_cpp/__init__.py", "vendor/llama.cpp/src/llama.cpp", "vendor/llama.cpp/common/common.cpp",
            "vendor/llama.cpp/ggml/src/ggml-cuda/mmq.cu", "vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp", "vendor/llama.cpp/ggml/src/ggml.c",
            "vendor/llama.cpp/tools/llama-bench/llama-bench.cpp", "vendor/llama.cpp/gguf-py/gguf/__init__.py", "vendor/llama.cpp/vendor/nlohmann/json.hpp"]
    gone = ["llama_cpp/server/app.py", "docs/index.md", ".git/modules/vendor/llama.cpp/objects/pack.pack", "vendor/llama.cpp/.git",
            "vendor/llama.cpp/models/ggml-vocab.gguf", "vendor/llama.cpp/ggml/src/ggml-vulkan/v.cpp", "vendor/llama.cpp/tools/server/server.cpp",
            "vendor/llama.cpp/app/CMakeLists.txt"]
    assert [k for k in kept if k not in names] == []
    assert [g for g in gone if g in names] == []
    assert "add_subdirectory(llama-bench)" in tools and "server" not in tools


def test_prepare_refuses_a_missing_sdist(tmp_path):
    r = sh("prepare", env={"SDIST": str(tmp_path / "nothing.tar.gz"), "NO_WHEELS": "1", "CARRY": str(tmp_path / "carry")})
    assert r.returncode == 1 and "FAILED" in r.stderr and "SDIST=" in r.stderr


def test_dry_run_goes_through_the_benchmarks_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    env = {"WORK": str(tmp_path / "work"), "OUT": str(out), "CARRY": str(tmp_path / "no-carry"), "PYTHON": sys.executable, "LLAMA_BENCH": ""}
    t0 = time.monotonic()
    r = sh("dry-run", env=env, timeout=240)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    assert took < 120, took
    assert "source and configure steps skipped" in r.stderr
    engine = json.loads((out / "engine_speed.json").read_text())
    assert [x["name"] for x in engine["results"]] == ["glmchat"] and engine["results"][0]["median"] > 0
    spec = json.loads((out / "speculative.json").read_text())
    assert spec["modes"] == ["off", "ngram", "mtp"]  # the dry run's model carries a NextN layer
    assert set(spec["tasks"]) == {"free", "copy"}
    for task in spec["tasks"].values():
        assert set(task["modes"]) == {"off", "ngram", "mtp"} and task["modes"]["off"]["vs_off_median"] == 1.0
    assert "engine_speed: " in r.stdout and "copy  mtp" in r.stdout
    assert len(list(out.iterdir())) <= 8  # the device tool brings back at most 8 files


FAKE_LLAMA_BENCH = """#!{python}
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(" ".join(args) + "\\n")
n = int(args[args.index("-n") + 1])
print(json.dumps([{{"n_prompt": 0, "n_gen": n, "samples_ts": [100.0], "avg_ts": 100.0}}]))
"""


def test_speculative_vs_llama_bench_runs_llama_bench_at_each_tasks_depth(tmp_path, smollm2_path):
    log = tmp_path / "calls.log"
    fake = tmp_path / "llama-bench"
    fake.write_text(FAKE_LLAMA_BENCH.format(python=sys.executable, log=str(log)))
    fake.chmod(0o755)
    script = ROOT / "benchmarks" / "speculative_vs_llama_bench.py"
    r = subprocess.run([sys.executable, str(script), "--model", str(smollm2_path), "--threads", "1", "--n-gen", "12", "--rounds", "2",
                        "--llama-bench", str(fake), "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["modes"] == ["off", "ngram"]  # SmolLM2 has no NextN layer
    calls = log.read_text().splitlines()
    assert len(calls) == 4  # one per task and round
    depths = [int(c.split()[c.split().index("-d") + 1]) for c in calls]
    assert depths == [data["tasks"]["free"]["depth"], data["tasks"]["copy"]["depth"]] * 2
    assert data["tasks"]["copy"]["depth"] > 500 > data["tasks"]["free"]["depth"]
    for task in data["tasks"].values():
        assert task["llama_bench_tps"] == [100.0, 100.0]
        for mode in task["modes"].values():
            assert mode["vs_llama_bench"] == [x / 100.0 for x in mode["tps"]]
