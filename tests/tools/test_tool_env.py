"""Tool processes get no secrets: glmchat's, the Hub's, the usual clients' and anything named like one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from glmchat.settings import load_settings
from glmchat.tools import ToolContext, ToolRegistry, Workspace
from glmchat.tools.sandbox import ProcessPolicy, use_policy
from glmchat.tools.tool_env import is_secret_name, tool_environment

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")

PLANTED = {
    "GLMCHAT_API_KEY": "glm-secret",
    "HF_TOKEN": "hf_secret",
    "HUGGING_FACE_HUB_TOKEN": "hf_secret2",
    "OPENAI_API_KEY": "sk-secret",
    "ANTHROPIC_API_KEY": "sk-ant-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-session",
    "GITHUB_TOKEN": "ghp_secret",
    "DB_PASSWORD": "hunter2",
    "stripe_secret": "lower-case-secret",
    "MY_LLM_KEY": "endpoint-secret",  # named by [remote] api_key_env below
}
HARMLESS = {"GLMCHAT_HARMLESS": "visible", "TOKENIZERS_PARALLELISM": "false", "KEY_LAYOUT": "us"}


def test_the_deny_list_names_and_patterns() -> None:
    for name in PLANTED:
        if name != "MY_LLM_KEY":
            assert is_secret_name(name), name
    for name in (*HARMLESS, "PATH", "HOME", "SSH_AUTH_SOCK", "XAUTHORITY", "GLMCHAT_DATA_DIR"):
        assert not is_secret_name(name), name


def test_allow_patterns_and_extra_denied_names() -> None:
    env = {**PLANTED, **HARMLESS, "PATH": "/bin"}
    out = tool_environment(env, allow=["GITHUB_TOKEN", "AWS_*"], deny=["MY_LLM_KEY"])
    assert out["GITHUB_TOKEN"] == "ghp_secret" and out["AWS_SECRET_ACCESS_KEY"] == "aws-secret"
    assert "MY_LLM_KEY" not in out and "HF_TOKEN" not in out and "DB_PASSWORD" not in out
    assert all(out[k] == v for k, v in HARMLESS.items()) and out["PATH"] == "/bin"


def test_env_allow_comes_from_config_and_is_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[tools]\nenv_allow = ["GITHUB_TOKEN"]\nsandbox = "off"\nnetwork = true\n[remote]\napi_key_env = "MY_LLM_KEY"\n')
    policy = ProcessPolicy.from_settings(load_settings(cfg))
    assert policy == ProcessPolicy(sandbox="off", network=True, env_allow=("GITHUB_TOKEN",), env_deny=("MY_LLM_KEY",))
    from glmchat.errors import ConfigError

    for bad in ('env_allow = "GITHUB_TOKEN"', "env_allow = [1]", 'sandbox = "on"', 'network = "no"'):
        cfg.write_text(f"[tools]\n{bad}\n")
        with pytest.raises(ConfigError) as err:
            load_settings(cfg)
        assert "config.toml:2: tools." in err.value.message


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch):
    for name, value in {**PLANTED, **HARMLESS}.items():
        monkeypatch.setenv(name, value)
    old = use_policy(ProcessPolicy(env_allow=("GITHUB_TOKEN",), env_deny=("MY_LLM_KEY",)))
    yield
    use_policy(old)


@pytest.mark.slow
@pytest.mark.parametrize("tool, args", [("run_shell", {"command": "env"}), ("python", {"code": "import os\nfor k, v in os.environ.items(): print(f'{k}={v}')"})])
def test_tool_processes_never_see_the_secrets(planted, tmp_path: Path, tool: str, args: dict) -> None:
    r = ToolRegistry.builtin().execute(tool, args, ToolContext(Workspace(tmp_path)))
    assert r.ok, r.output
    for name, value in PLANTED.items():
        if name != "GITHUB_TOKEN":
            assert value not in r.output and f"{name}=" not in r.output, name
    assert "GITHUB_TOKEN=ghp_secret" in r.output  # let through by env_allow
    for name, value in HARMLESS.items():
        assert f"{name}={value}" in r.output


@pytest.mark.slow
def test_slash_run_gets_the_same_environment(planted, tmp_path: Path) -> None:
    from glmchat.tools.direct import run_command, run_python

    out = run_command("env", Workspace(tmp_path)).output + run_python("import os; print(dict(os.environ))", Workspace(tmp_path)).output
    assert "hf_secret" not in out and "sk-secret" not in out and "glm-secret" not in out and "ghp_secret" in out
