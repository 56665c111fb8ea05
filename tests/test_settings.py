"""Settings: paths, config.toml validation with file/line/key, profiles, `glmchat config`, fast CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glmchat import settings as s
from glmchat.errors import ConfigError, UsageError


def write_config(text: str) -> Path:
    path = s.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_dirs_follow_environment(isolated_dirs):
    assert s.config_dir() == isolated_dirs / "config"
    assert s.data_dir() == isolated_dirs / "data"
    assert s.cache_dir() == isolated_dirs / "cache"
    assert s.log_path().parent == s.data_dir()
    assert s.db_path().parent == s.data_dir()


def test_defaults_without_a_file():
    cfg = s.load_settings()
    assert not cfg.exists
    assert cfg.model.n_ctx == 16384
    assert cfg.chat.profile == "general"


def test_builtin_profiles_are_the_recommended_values():
    g, t = s.BUILTIN_PROFILES["general"], s.BUILTIN_PROFILES["tool"]
    assert (g.temperature, g.top_p, g.top_k, g.min_p, g.repeat_penalty) == (1.0, 0.95, 40, 0.01, 1.0)
    assert (t.temperature, t.top_p, t.top_k, t.min_p, t.repeat_penalty) == (0.7, 1.0, 40, 0.01, 1.0)


def test_user_profiles_add_and_override():
    write_config(
        """
[profiles.general]
temperature = 0.8

[profiles.precise]
temperature = 0
top_k = 0
seed = 7
max_tokens = 100
"""
    )
    cfg = s.load_settings()
    assert cfg.profiles["general"].temperature == 0.8
    assert cfg.profiles["general"].top_p == 0.95  # untouched values keep the built-in ones
    p = cfg.profile("precise")
    assert (p.temperature, p.top_k, p.seed, p.max_tokens, p.min_p) == (0.0, 0, 7, 100, 0.01)
    with pytest.raises(UsageError) as exc:
        cfg.profile("nope")
    assert "general" in str(exc.value) and "precise" in str(exc.value)


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("[model]\nn_ctx = 'big'\n", 2, "model.n_ctx"),
        ("# hi\n\n[chat]\nthinking = 'maybe'\n", 4, "chat.thinking"),
        ("[profiles.fast]\ntop_p = 0.5\ntemprature = 1\n", 3, "profiles.fast.temprature"),
        ("[ui]\ntheme = 'x'\n[bogus]\na = 1\n", 3, "bogus"),
        ("[tools]\napprove = 'always'\n", 2, "tools.approve"),
        ("[model]\nn_ctx = 999999999\n", 2, "model.n_ctx"),
        ("[chat]\nprofile = 'missing'\n", 2, "chat.profile"),
    ],
)
def test_invalid_config_names_file_line_and_key(text, line, key):
    path = write_config(text)
    with pytest.raises(ConfigError) as exc:
        s.load_settings()
    msg = str(exc.value)
    assert f"{path}:{line}" in msg
    assert key in msg


def test_toml_syntax_error_names_the_file():
    path = write_config("[model\nn_ctx = 1\n")
    with pytest.raises(ConfigError) as exc:
        s.load_settings()
    assert str(path) in str(exc.value) and "line 1" in str(exc.value)


def test_save_ui_choice_keeps_the_rest_of_the_file():
    write_config("# my settings\n[ui]\ntheme = \"glm-dark\"  \nsidebar = false\n\n[chat]\nprofile = \"tool\"\n")
    s.save_ui_choice("theme", "glm-light")
    cfg = s.load_settings()
    assert cfg.ui.theme == "glm-light" and cfg.ui.sidebar is False and cfg.chat.profile == "tool"
    assert s.config_path().read_text().startswith("# my settings")
    s.save_ui_choice("show_thinking", False)
    assert s.load_settings().ui.show_thinking is False


def run_cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glmchat", *args], capture_output=True, text=True, input=input, timeout=120)


@pytest.mark.slow
def test_config_command_shows_paths_and_settings(isolated_dirs):
    write_config("[profiles.precise]\ntemperature = 0.1\n")
    r = run_cli("config", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["paths"]["data dir"] == str(isolated_dirs / "data")
    assert data["settings"]["profiles"]["precise"]["temperature"] == 0.1
    assert data["settings"]["profiles"]["general"]["min_p"] == 0.01
    human = run_cli("config")
    assert "config.toml" in human.stdout and "[profiles.precise]" in human.stdout


@pytest.mark.slow
def test_bad_config_is_one_clean_line_and_exit_1():
    write_config("[model]\nn_ctx = 'big'\n")
    r = run_cli("config")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "model.n_ctx" in r.stderr and ":2" in r.stderr


@pytest.mark.slow
def test_help_and_version_do_not_import_heavy_modules():
    code = (
        "import sys, io, contextlib\n"
        "from glmchat import cli\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        cli.main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('llama_cpp', 'textual', 'sqlite3', 'huggingface_hub', 'jinja2') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
    v = run_cli("--version")
    assert v.returncode == 0 and v.stdout.startswith("glmchat ")


@pytest.mark.slow
def test_ask_usage_errors_exit_2():
    r = run_cli("ask", "", input="")
    assert r.returncode == 2 and "empty" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("ask", "--max-tokens", "0", "hi")
    assert r.returncode == 2


def test_keys_must_be_keys_a_terminal_can_send():
    path = write_config('[keys]\nnew = "ctrl+n"\nsidebar = "banana"\n')
    with pytest.raises(ConfigError) as exc:
        s.load_settings()
    assert f"{path}:3" in str(exc.value) and "keys.sidebar" in str(exc.value) and "banana" in str(exc.value)
    write_config('[keys]\nnew = "ctrl+n,f2"\nhelp = "question_mark"\n')
    assert s.load_settings().keys == {"new": "ctrl+n,f2", "help": "question_mark"}


@pytest.mark.slow
def test_the_tui_refuses_to_start_without_a_terminal():
    r = run_cli(input="")
    assert r.returncode == 2 and "terminal" in r.stderr and "glmchat ask" in r.stderr and "Traceback" not in r.stderr
