"""Runs the tmux drives: the real app in tmux on SmolLM2, driven as a person would.

tests/tmux_drive.sh: chat, conversations, /read, /run, ask -c offline, prompt progress, a first-run
download typed through; tests/tmux_drive_agent.sh: /context, Shift+Tab modes, the @ picker, a project
command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["tmux_drive.sh", "tmux_drive_agent.sh"])
def test_tmux_drive(smollm2_path, script):
    pytest.importorskip("llama_cpp")
    proc = subprocess.run(
        ["bash", str(TESTS / script), str(smollm2_path)],
        capture_output=True,
        text=True,
        timeout=540,
        env={**__import__("os").environ, "PYTHON": sys.executable},
    )
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip() or "tmux unavailable")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("OK")
