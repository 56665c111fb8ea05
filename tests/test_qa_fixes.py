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


# ---- README.md tells the truth about commands, options, keys and slash commands --------------------------

README = __import__("pathlib").Path(__file__).resolve().parent.parent / "README.md"


def _readme_invocations() -> list[list[str]]:
    """Every `glmchat …` written in README.md (code blocks and inline code), split into words."""
    import re

    text = README.read_text(encoding="utf-8")
    snippets = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    snippets = [s for s in snippets if "[model]" not in s]  # skip config.toml examples
    snippets += re.findall(r"`([^`\n]*glmchat [^`\n]*)`", text)
    out = []
    for snippet in snippets:
        for line in snippet.splitlines():
            line = line.split(" #", 1)[0]
            for part in re.split(r"(?=\bglmchat )", line)[1:]:
                words = part.split()
                if words and words[0] == "glmchat":
                    out.append(words[1:])
    return out


def test_readme_commands_and_options_exist():
    import typer

    from glmchat.cli import app

    root = typer.main.get_command(app)  # typer ships its own click: duck-type groups by `.commands`
    seen = 0
    for words in _readme_invocations():
        cmd = root
        for w in words:
            if w.startswith(("-", "[", "\"", "'", "…")) or not hasattr(cmd, "commands"):
                break
            if w not in cmd.commands:
                break
            cmd = cmd.commands[w]
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for w in words:
            opt = w.strip("[],|")
            if opt.startswith("-") and len(opt) > 1:
                assert opt.split("=")[0] in known, f"README: `glmchat {' '.join(words)}`: {opt} is not an option of {cmd.name}"
        seen += 1
    assert seen > 15  # the parser found the README's examples


def test_readme_lists_every_slash_command_and_only_those():
    import re

    from glmchat.tui.commands import COMMANDS

    text = README.read_text(encoding="utf-8")
    section = text.split("Slash commands", 1)[1].split("\n\n", 1)[0]
    written = set(re.findall(r"`/([a-z]+)", section))
    names = {c.name for c in COMMANDS}
    assert names - written == set(), f"slash commands missing from README: {sorted(names - written)}"
    assert written - names == set(), f"README names slash commands that do not exist: {sorted(written - names)}"


def test_readme_key_table_uses_real_binding_ids():
    import re

    from glmchat.tui.keys import DEFAULTS

    text = README.read_text(encoding="utf-8")
    table = [ln for ln in text.splitlines() if ln.startswith("| ") and "`" in ln and "Ctrl" in ln or ln.startswith("| F1")]
    ids = {i for ln in table for i in re.findall(r"`([a-z_]+)`", ln)}
    assert ids, "no key table found"
    assert ids <= {d[0] for d in DEFAULTS}, sorted(ids - {d[0] for d in DEFAULTS})
