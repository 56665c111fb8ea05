"""`glmchat models` and `glmchat download` against the fake Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from glmchat.hub import (
    RECOMMENDED,
    download,
)
from tests.fake_hub import BF16_1, BF16_2, PREFIX, Q4

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_unknown_quant_via_cli_is_one_line_exit_2(hub):
    r = subprocess.run([sys.executable, "-m", "glmchat", "download", "Q9_Z"], capture_output=True, text=True,
                       cwd=ROOT, env=dict(os.environ), timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Unknown quant 'Q9_Z'" in r.stderr and "Traceback" not in r.stderr


def _cli() -> typer.Typer:
    from glmchat.commands import hub as hub_cmd

    app = typer.Typer()
    hub_cmd.register(app)
    return app


def test_models_table_and_json(hub):
    download("Q4_K_M")
    runner = CliRunner()
    r = runner.invoke(_cli(), ["models", "--ctx", "4096", "--vram", "0"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    rec_line = next(ln for ln in lines if "UD-Q4_K_XL" in ln)
    assert "recommended" in rec_line
    q4_line = next(ln for ln in lines if " Q4_K_M " in ln)
    assert q4_line.count("yes") == 2 and "668.0 KiB" in q4_line  # downloaded, fits; 684,000 bytes
    assert " GB" not in r.output and " MB" not in r.output and "GiB RAM + 0 B VRAM" in r.output  # binary units, as doctor
    assert "BF16 (2 files)" in r.output

    r = runner.invoke(_cli(), ["models", "--json", "--ctx", "4096", "--vram", "0"])
    data = json.loads(r.output)
    assert data["recommended"] == "UD-Q4_K_XL" and data["source"] == "hub" and data["n_ctx"] == 4096
    by = {q["name"]: q for q in data["quants"]}
    assert by["Q4_K_M"]["downloaded"] and by["Q4_K_M"]["path"].endswith(Q4)
    assert not by["Q6_K"]["downloaded"] and by["Q6_K"]["fits"]
    assert [f["path"] for f in by["BF16"]["files"]] == [BF16_1, BF16_2]
    assert sum(q["recommended"] for q in data["quants"]) == 1


def test_download_command_defaults_to_recommended(hub):
    r = CliRunner().invoke(_cli(), ["download"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1].endswith(f"{PREFIX}{RECOMMENDED}.gguf")


def test_models_vram_option_is_in_gib_like_every_size_shown(hub):
    r = CliRunner().invoke(_cli(), ["models", "--json", "--vram", "1.5"])
    assert json.loads(r.output)["vram_bytes"] == 3 * 2**29
    r = CliRunner().invoke(_cli(), ["models", "--vram", "1.5"])
    assert "1.5 GiB VRAM" in r.output
