"""Runs tests/tmux_drive.sh: the real app in tmux on SmolLM2, driven as a person would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "tmux_drive.sh"


def test_tmux_drive(smollm2_path):
    pytest.importorskip("llama_cpp")
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(smollm2_path)],
        capture_output=True,
        text=True,
        timeout=540,
        env={**__import__("os").environ, "PYTHON": sys.executable},
    )
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip() or "tmux unavailable")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("OK")
