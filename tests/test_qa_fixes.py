"""Regression tests for bugs found while using glmchat as a newcomer (QA pass)."""

from __future__ import annotations

import pytest

from glmchat.errors import UsageError
from glmchat.hub import OfflineError, download, ensure_model


def test_offline_unknown_quant_is_reported_as_unknown(monkeypatch):
    """HF_HUB_OFFLINE=1 and a typo: say the quant is unknown (exit 2), not that it is missing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        download("Q9_Z")
    assert "Unknown quant 'Q9_Z'" in err.value.message and "Known quants" in err.value.hint
    with pytest.raises(UsageError) as err:
        ensure_model("Q9_Z", interactive=False)
    assert "Unknown quant 'Q9_Z'" in err.value.message


def test_offline_known_quant_still_says_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        download("q4_k_m")  # known, any case: the offline message, with the catalog's spelling
    assert "Q4_K_M" in err.value.message and "HF_HUB_OFFLINE" in err.value.message
    with pytest.raises(OfflineError) as err:
        ensure_model("q4_k_m", interactive=False)
    assert "Q4_K_M" in err.value.message


# ---- doctor looks at the model config.toml names --------------------------------------------------


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


# ---- /read speaks of slash commands, not of the model's tool names -------------------------------------


def test_read_missing_file_or_directory_hints_at_slash_commands(tmp_path):
    from glmchat.errors import GlmchatError
    from glmchat.tools import Workspace
    from glmchat.tools.direct import read_attachment

    (tmp_path / "src").mkdir()
    ws = Workspace(tmp_path)
    with pytest.raises(GlmchatError) as err:
        read_attachment("nope.md", ws)
    assert "No such file: nope.md" in err.value.message
    assert "/ls" in err.value.hint and "list_dir" not in err.value.hint
    with pytest.raises(GlmchatError) as err:
        read_attachment("src:1-3", ws)
    assert "is a directory" in err.value.message and "/ls src" in err.value.hint
