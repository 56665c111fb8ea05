"""The attack: `glmchat ask --model FIFO`. Before issue 14 the process blocked opening the FIFO for
ever; now it exits 1 at once with one line saying what the file is (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_ask_refuses_a_fifo_as_the_model(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    try:
        res = subprocess.run([sys.executable, "-m", "glmchat", "ask", "--model", str(fifo), "hi"], cwd=ROOT,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("glmchat ask blocked on the FIFO (killed after 60 s)")
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glmchat: ") and "is a FIFO (named pipe), not a model file" in lines[0], res.stderr
