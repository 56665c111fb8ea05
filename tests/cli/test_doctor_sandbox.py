"""`glmchat doctor` says whether run_shell and python run sandboxed, and why not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from glmchat import doctor
from glmchat.settings import Settings
from glmchat.tools import sandbox


def test_the_report_says_the_sandbox_is_off_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(path=Path("config.toml"))
    settings.tools.sandbox = "off"
    box = doctor.sandbox_report(settings)
    assert box["active"] is False and 'sandbox = "off"' in box["detail"]
    assert doctor.sandbox_line(box).startswith('Tool sandbox: off — turned off ([tools] sandbox = "off")')
    settings.tools.sandbox, settings.tools.network = "auto", False
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    line = doctor.sandbox_line(doctor.sandbox_report(settings))
    assert "bwrap is not installed" in line and "network = false: they are refused" in line


def test_an_active_sandbox_is_named() -> None:
    line = doctor.sandbox_line({"active": True, "detail": "bubblewrap (workspace writable, …)", "network": True, "env_allow": []})
    assert line == "Tool sandbox: active — bubblewrap (workspace writable, …)"


@pytest.mark.slow
def test_glmchat_doctor_prints_the_sandbox_line() -> None:
    r = subprocess.run([sys.executable, "-m", "glmchat", "doctor"], capture_output=True, text=True, timeout=120)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("Tool sandbox: ")), None)
    assert line is not None, r.stdout + r.stderr
    state = sandbox.sandbox_state(sandbox.ProcessPolicy())
    assert line.startswith("Tool sandbox: active" if state.active else "Tool sandbox: off"), line
