"""`glmchat config` (the settings in effect as TOML), `config init` (every key, commented) and
`config edit` ($VISUAL / $EDITOR, then checked)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from glmchat import settings as s
from glmchat.cli import app
from glmchat.config_file import template, toml_string

ROOT = Path(__file__).resolve().parents[2]


def _config(text: str) -> Path:
    path = s.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


# ---- glmchat config ----------------------------------------------------------------------------------


def test_config_prints_the_settings_as_toml_that_reads_back_to_the_same_values():
    _config(
        '[model]\nthreads = 8\ncpu_moe = "all"\n'
        '[chat]\nsystem_prompt = "Be \\"brief\\".\\nNo\\u001b[31m escapes\\t\\u202e here"\n'
        '[tools]\nenv_allow = ["GITHUB_TOKEN", "NPM_TOKEN"]\ntimeout = 1.5e3\n'
        '[remote]\nbase_url = "https://user:secret@gpu-box:8000/v1"\n'
        '[profiles."my precise"]\ntemperature = 0.2\nmin_p = 1e-5\nseed = 42\n'
        '[keys]\nnew = "ctrl+n,f2"\n'
    )
    r = _invoke("config")
    assert r.exit_code == 0, r.output
    out = r.output
    assert "None" not in out and "'auto'" not in out and "secret" not in out
    effective = s.load_settings().as_dict()
    assert tomllib.loads(out) == _without_none(effective)
    assert "# path = (unset)" in out and "# max_tokens = (unset)" in out  # TOML has no null
    assert 'gpu_layers = "auto"' in out and "threads = 8" in out and "timeout = 1500.0" in out and "min_p = 1e-05" in out
    assert '[profiles."my precise"]' in out and "\x1b" not in out and "\u202e" not in out
    assert tomllib.loads(out)["chat"]["system_prompt"] == 'Be "brief".\nNo\x1b[31m escapes\t\u202e here'


def test_config_of_the_defaults_names_the_paths_in_comments_and_reads_back():
    r = _invoke("config")
    assert r.exit_code == 0, r.output
    assert f"# config file    {s.config_path()}  (not created; defaults in effect)" in r.output
    assert tomllib.loads(r.output) == _without_none(s.Settings(path=s.config_path()).as_dict())


def test_config_json_still_has_paths_and_settings():
    _config("[model]\nn_ctx = 4096\n")
    data = json.loads(_invoke("config", "--json").output)
    assert data["paths"]["config file"] == str(s.config_path())
    assert data["settings"]["model"]["n_ctx"] == 4096 and data["settings"]["model"]["threads"] is None


def test_toml_strings_escape_what_a_terminal_would_act_on():
    for text in ["plain", 'q"uote\\', "tab\tnl\ncr\r", "\x00\x07\x1b\x7f\x85\u202e\u2066", "emoji 🙂 ü", "\U000e0041"]:
        written = toml_string(text)
        assert tomllib.loads(f"v = {written}")["v"] == text
        assert all(ch.isprintable() for ch in written)


# ---- glmchat config init -----------------------------------------------------------------------------


def test_every_key_has_a_description_and_a_line_in_the_template():
    text = template()
    lines = text.splitlines()
    for section, schema in {**s.SCHEMA, "profiles": s.PROFILE_KEYS}.items():
        for key in schema:
            desc = s.DESCRIPTIONS.get(section, {}).get(key)
            assert desc, f"settings.DESCRIPTIONS has no line for {section}.{key}"
            at = next(i for i, ln in enumerate(lines) if ln == f"# {desc}")
            assert lines[at + 1].lstrip("# ").startswith(f"{key} = "), (section, key, lines[at + 1])
    assert all(ln.startswith(("#", "[")) or not ln.strip() or "=" in ln for ln in lines)


def test_a_key_added_to_the_schema_appears_in_the_template(monkeypatch):
    monkeypatch.setitem(s.SCHEMA, "ui", {**s.SCHEMA["ui"], "brand_new": s._bool})
    monkeypatch.setitem(s.DESCRIPTIONS, "ui", {**s.DESCRIPTIONS["ui"], "brand_new": "A setting added later."})
    text = template()
    assert "# A setting added later.\n# brand_new = (unset)" in text


def test_init_writes_a_private_file_that_loads_to_exactly_the_defaults():
    path = s.config_path()
    old = os.umask(0)
    try:
        r = _invoke("config", "init")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert str(path) in r.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = s.load_settings(path)
    defaults = s.Settings(path=path, exists=True)
    assert loaded == defaults  # every section, the built-in profiles, no [keys]
    # the (unset) lines show how to set them: uncommenting the set ones changes nothing either
    text = path.read_text(encoding="utf-8")
    assert "notify = true" in text and "n_ctx = 16384" in text and '# new = "ctrl+n"' in text


def test_init_never_overwrites_and_force_keeps_every_earlier_file():
    path = _config("[model]\nn_ctx = 4096  # mine\n")
    r = _invoke("config", "init")
    assert r.exit_code != 0
    assert path.read_text(encoding="utf-8") == "[model]\nn_ctx = 4096  # mine\n"

    r = _invoke("config", "init", "--force")
    assert r.exit_code == 0, r.output
    backup = path.with_name("config.toml.bak")
    assert backup.read_text(encoding="utf-8") == "[model]\nn_ctx = 4096  # mine\n" and str(backup) in r.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert s.load_settings(path).model.n_ctx == 16384

    path.write_text("[model]\nn_ctx = 8192\n", encoding="utf-8")
    assert _invoke("config", "init", "--force").exit_code == 0
    assert backup.read_text(encoding="utf-8") == "[model]\nn_ctx = 4096  # mine\n"  # the first copy stays
    assert path.with_name("config.toml.bak.1").read_text(encoding="utf-8") == "[model]\nn_ctx = 8192\n"


@pytest.mark.slow
def test_init_refusal_is_one_line_with_what_to_do():
    _config("[ui]\nsidebar = false\n")
    r = _glmchat("config", "init")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "already exists" in r.stderr and "--force" in r.stderr and "config edit" in r.stderr


# ---- glmchat config edit -----------------------------------------------------------------------------


def _glmchat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "glmchat", *args], check=False, capture_output=True, text=True,
                          cwd=ROOT, env=full, stdin=subprocess.DEVNULL, timeout=60)


def _editor(tmp_path: Path, body: str) -> str:
    """A small editor script: `body` runs with $1 = the file; it also copies what it was given to seen.toml."""
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\ncp "$1" "{tmp_path}/seen.toml"\n{body}\n', encoding="utf-8")
    script.chmod(0o755)
    return str(script)


@pytest.mark.slow
def test_edit_creates_the_file_opens_the_editor_and_checks_the_result(tmp_path):
    editor = _editor(tmp_path, "sed -i 's/^sidebar = true/sidebar = false/' \"$1\"")
    r = _glmchat("config", "edit", env={"EDITOR": editor})
    assert r.returncode == 0, r.stderr
    path = s.config_path()
    assert (tmp_path / "seen.toml").read_text(encoding="utf-8") == template()  # created with init's content
    assert "is valid" in r.stdout and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s.load_settings(path).ui.sidebar is False


@pytest.mark.slow
def test_visual_wins_over_editor_and_may_carry_arguments(tmp_path):
    _config("[ui]\nsidebar = true\n")
    visual = _editor(tmp_path, 'echo "$0 $*" > "' + str(tmp_path) + '/args"')
    r = _glmchat("config", "edit", env={"VISUAL": f"{visual} --wait", "EDITOR": "/nonexistent/editor"})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "args").read_text().split()[1:] == ["--wait", str(s.config_path())]


@pytest.mark.slow
@pytest.mark.parametrize("change, expected", [
    ("sed -i 's/^n_ctx = 16384/n_ctx = 10/' \"$1\"", "model.n_ctx must be at least 256"),
    ("sed -i 's/^notify = true/notfy = true/' \"$1\"", "ui.notfy is not a known setting"),
    ("sed -i 's/^# threads = (unset)/threads = (unset)/' \"$1\"", "not valid TOML"),
])
def test_edit_reports_a_mistake_with_line_and_key(tmp_path, change, expected):
    r = _glmchat("config", "edit", env={"EDITOR": _editor(tmp_path, change)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert expected in r.stderr and "config edit" in r.stderr
    text = s.config_path().read_text(encoding="utf-8").splitlines()
    bad = next(i for i, ln in enumerate(text, 1) if ln.startswith(("n_ctx = 10", "notfy", "threads = (unset)")))
    assert f"config.toml:{bad}:" in r.stderr or f"line {bad}" in r.stderr


@pytest.mark.slow
def test_edit_without_an_editor_names_the_file(tmp_path):
    r = _glmchat("config", "edit")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert str(s.config_path()) in r.stderr and "EDITOR" in r.stderr
    assert s.load_settings().exists  # created for whichever editor the user picks

    r = _glmchat("config", "edit", env={"EDITOR": str(tmp_path / "no-such-editor")})
    assert r.returncode == 1 and "no-such-editor" in r.stderr and "Traceback" not in r.stderr
