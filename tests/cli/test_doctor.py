"""`glmchat doctor`: machine report, file checks, offload plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glmchat import doctor
from glmchat.engine.devices import detect, physical_cores, ram


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glmchat", *args], capture_output=True, text=True, timeout=120)


def test_machine_detection_reports_cpu_ram_and_cores():
    m = detect()
    total, avail = ram()
    assert total > 0 and 0 < avail <= total
    assert physical_cores() >= 1
    assert m.backend in ("CPU", "CUDA", "Metal", "Vulkan", "GPU")
    assert any(d.kind == "CPU" for d in m.devices)


@pytest.mark.slow
def test_doctor_json_on_the_small_model(smollm2_path):
    r = run_cli("doctor", "--model", str(smollm2_path), "--ctx", "4096", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["llama_cpp_python"] not in ("?", "not installed")
    f = rep["model_files"][0]
    assert f["ok"] and f["architecture"] == "llama" and f["layers"] == 30
    plan = rep["plan"]
    assert plan["n_ctx"] == 4096 and plan["fits"]
    assert plan["largest_context"] == 8192  # the model's trained context caps it
    human = run_cli("doctor", "--model", str(smollm2_path))
    assert "Offload plan" in human.stdout and "largest context" in human.stdout


@pytest.mark.slow
def test_doctor_flags_a_truncated_file(smollm2_path, tmp_path):
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(smollm2_path.read_bytes()[: 5_000_000])
    r = run_cli("doctor", "--model", str(bad), "--json")
    assert r.returncode == 1
    f = json.loads(r.stdout)["model_files"][0]
    assert not f["ok"] and "truncated" in f["problem"]
    notgguf = tmp_path / "x.gguf"
    notgguf.write_text("hello")
    assert "not a GGUF" in doctor.check_file(notgguf)["problem"]
    assert doctor.check_file(tmp_path / "missing.gguf")["problem"] == "missing"


def test_plan_for_the_tiny_glm_model_is_moe_aware(tiny_glm_path):
    plan, best = doctor.plan_for(tiny_glm_path, detect(), 2048)
    assert plan.fits and best >= 2048


# ---- the model named in config.toml --------------------------------------------------------------


def _doctor_app():
    import typer

    from glmchat.commands import doctor as doctor_cmd

    app = typer.Typer()
    doctor_cmd.register(app)

    @app.command("noop", hidden=True)  # a second command keeps `doctor` a sub-command
    def _noop() -> None:
        pass

    return app


def _write_config(text: str) -> None:
    from glmchat.settings import config_path

    config_path().write_text(text, encoding="utf-8")


def test_doctor_checks_the_configured_model_path(tmp_path):
    import json

    from typer.testing import CliRunner

    missing = tmp_path / "nope.gguf"
    _write_config(f'[model]\npath = "{missing}"\n')
    r = CliRunner().invoke(_doctor_app(), ["doctor", "--json"])
    assert r.exit_code == 1, r.output
    files = json.loads(r.output)["model_files"]
    assert files[0]["path"] == str(missing) and files[0]["problem"] == "missing"


def test_doctor_plans_for_the_configured_model_at_the_context_it_will_get(smollm2_path):
    import json

    from typer.testing import CliRunner

    _write_config(f'[model]\npath = "{smollm2_path}"\nn_ctx = 16384\n')
    r = CliRunner().invoke(_doctor_app(), ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["model_files"][0]["path"] == str(smollm2_path)
    # SmolLM2 was trained on 8,192 tokens; the engine clamps to that, so the plan must too
    assert rep["plan"]["model"] == str(smollm2_path) and rep["plan"]["n_ctx"] == 8192


def _report(**over):
    rep = {
        "glmchat": "0", "python": "3", "platform": "Linux x86_64", "llama_cpp_python": "0.3", "backend": "CUDA",
        "gpu_offload": True, "ram_total": 25_232_932_864, "ram_available": 23_622_320_128, "physical_cores": 8,
        "threads": 8, "rebuild_hint": None, "sandbox": None, "model_files": [],
        "devices": [
            {"name": "CPU", "kind": "CPU", "description": "AMD EPYC", "free": 25_232_932_864, "total": 25_232_932_864},
            {"name": "CUDA0", "kind": "GPU", "description": "RTX 4090", "free": 20 * 2**30, "total": 24 * 2**30},
        ],
    }
    return {**rep, **over}


def test_doctor_reports_ram_once_with_one_figure_in_gib():
    text = doctor.render(_report())
    assert text.count("23.5 GiB") == 1 and text.count("22.0 GiB") == 1  # total and available, on one line
    ram_line = next(ln for ln in text.splitlines() if ln.startswith("RAM "))
    assert ram_line.startswith("RAM 22.0 GiB available of 23.5 GiB")
    cpu = next(ln for ln in text.splitlines() if "AMD EPYC" in ln)
    assert "GiB" not in cpu and "RAM above" in cpu  # the CPU device's memory is that RAM: not a second figure
    gpu = next(ln for ln in text.splitlines() if "RTX 4090" in ln)
    assert gpu.rstrip().endswith("20.0 GiB free of 24.0 GiB")
    assert " GB" not in text


def test_doctor_on_this_machine_shows_its_ram_figure_once():
    from glmchat.units import size_text

    rep = doctor.report(None, 4096)
    lines = doctor.render(rep).splitlines()
    figures = (size_text(rep["ram_total"]), size_text(rep["ram_available"]))
    assert [ln for ln in lines if any(f in ln for f in figures)] == [next(ln for ln in lines if ln.startswith("RAM "))]
