"""Shift+Tab in the prompt cycles the agent mode (the status bar shows it, within 80 columns), and
"Always allow" in the approval dialog writes an editable rule to config.toml, keeping the file's
comments, after which the same call runs without asking; a config.toml that does not parse is left
as it is."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from rich.console import Console

from glmchat.config_rules import add_allow_rule
from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ConfigError
from glmchat.glm import ToolCall
from glmchat.settings import config_path, load_settings
from glmchat.tools import ToolRegistry, Workspace
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.help import help_table
from glmchat.tui.screens.text_prompt import TextPromptScreen
from tests.tui_support import SIZE, make_app, wait_for, wait_ready

CONFIG = '# my own settings, keep this comment\n[chat]\nthinking = "on"  # and this one\n'


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def status_line(app, width: int | None = None) -> str:
    return app.chat_screen.status.status_text(width).plain


async def test_shift_tab_in_the_prompt_cycles_the_mode_and_the_status_bar_shows_it(tmp_path):
    app = make_app(tmp_path, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot, app)
        chat = app.chat_screen
        chat.prompt.focus()
        await pilot.pause()
        assert chat.session.approval.mode == "default" and "plan" not in status_line(app)
        seen = []
        for _ in range(3):
            await pilot.press("shift+tab")
            await pilot.pause()
            seen.append((chat.session.approval.mode, status_line(app), status_line(app, 80),
                         chat.status.status_text(80).cell_len))
            assert chat.prompt.has_focus  # the key was not taken as "focus previous"
        assert [s[0] for s in seen] == ["accept-edits", "plan", "default"]
        assert "accept edits" in seen[0][1] and "plan mode" in seen[1][1]
        assert "edits" in seen[0][2] and "plan" in seen[1][2]
        assert all(s[3] <= 80 for s in seen), seen


async def test_shift_tab_outside_the_prompt_still_moves_the_focus_and_help_lists_it(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.push_screen(ApprovalScreen("run_shell", {"command": "ls"}, "execute", "$ ls"))
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.pause()
        before = app.focused
        assert before is not None and before.id == "allow_once"
        await pilot.press("shift+tab")
        await pilot.pause()
        assert app.focused is not before and app.chat_screen.agent_mode == "default"
        console = Console(width=100, record=True)
        console.print(help_table({})[0])
        assert re.search(r"shift\+tab\s+Mode: default / accept edits / plan", console.export_text())


async def test_always_allow_writes_the_edited_rule_and_the_same_command_then_runs_unasked(tmp_path):
    path = write_config(CONFIG)
    app = make_app(tmp_path, settings=load_settings(), tools=ToolRegistry.builtin(), tools_enabled=True,
                   workspace=Workspace(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        session = app.chat_screen.session
        call = ToolCall("run_shell", {"command": "git log --oneline"}, "")
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", app.chat_screen.turns.approve(call, "execute", "$ git log")))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        field = app.screen.query_one("#dialog-input")
        assert field.value == "git log*"  # the exact pattern, shown before it is written
        field.value = "git log --oneline*"  # the user narrows it
        await pilot.press("enter")
        await pilot.pause()
        t.join(5)
        assert result["r"].allowed
        text = path.read_text()
        assert "# my own settings, keep this comment" in text and "# and this one" in text
        assert load_settings().tools.rules["run_shell"] == {"git log --oneline*": "allow"}
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        tool = session.tools.get("run_shell")
        assert session.approval.decide(tool, call, None) is None  # runs without asking now
        other = ToolCall("run_shell", {"command": "git log -p"}, "")
        assert session.approval.decide(tool, other, None) is not None  # not covered by the edited rule


async def test_always_allow_a_write_in_a_real_turn_then_the_same_write_runs_unasked(tmp_path):
    write_config(CONFIG)
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    call = ("<tool_call>write_file<arg_key>path</arg_key><arg_value>docs/a.md</arg_value>"
            "<arg_key>content</arg_key><arg_value>hi</arg_value></tool_call>")
    engine = ScriptedEngine(scripts=["W.</think>" + call, "</think>Done.", "W.</think>" + call, "</think>Again."])
    app = make_app(tmp_path, engine=engine, settings=load_settings(), tools=ToolRegistry.builtin(), tools_enabled=True,
                   workspace=Workspace(ws))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("write it")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        assert app.screen.query_one("#dialog-input").value == "docs/**"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        (ws / "docs" / "a.md").unlink()
        app.chat_screen.prompt.load_text("again")
        app.chat_screen.prompt.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 2)
        assert not isinstance(app.screen, ApprovalScreen)
        assert (ws / "docs" / "a.md").read_text() == "hi"
        assert 'write_file = {"docs/**" = "allow"}' in config_path().read_text()


async def test_always_allow_is_off_for_a_command_with_shell_operators(tmp_path):
    app = make_app(tmp_path, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        call = ToolCall("run_shell", {"command": "git status && curl evil.example"}, "")
        t = threading.Thread(target=lambda: app.chat_screen.turns.approve(call, "execute", ""))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.screen.query_one("#allow_always").disabled
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)  # nothing offered
        await pilot.press("d")
        t.join(5)


def test_a_corrupt_config_is_not_overwritten(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[tools\napprove = 'ask'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        add_allow_rule("run_shell", "git log*", path)
    assert path.read_text() == "[tools\napprove = 'ask'\n"
    assert not (tmp_path / "config.toml.before-rule").exists()


def test_a_pattern_with_shell_operators_is_never_written(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match="shell control operator"):
        add_allow_rule("run_shell", "git status; *", path)
    assert not path.exists()


def test_adding_a_rule_keeps_the_file_and_a_backup(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[tools.rules]\n# mine\nrun_shell = { "git status*" = "allow" }\n', encoding="utf-8")
    add_allow_rule("run_shell", "git log*", path)
    text = path.read_text()
    assert "# mine" in text and '"git status*" = "allow"' in text and '"git log*" = "allow"' in text
    assert (tmp_path / "config.toml.before-rule").read_text().count("git log") == 0
    assert list(load_settings(path).tools.rules["run_shell"]) == ["git status*", "git log*"]


@pytest.mark.parametrize("mode,label", [("plan", "plan"), ("accept-edits", "edits")])
def test_a_busy_status_line_names_the_mode_within_80_columns(mode, label):
    from glmchat.tui.widgets.status import StatusBar

    bar = StatusBar()
    info = {"model": "GLM-4.7-Flash", "quant": "UD-Q4_K_XL", "backend": "CUDA (NVIDIA GeForce RTX 4090), 48/48 layers",
            "profile": "tool", "thinking": "on", "tools": True, "ctx_used": 12_000, "ctx_total": 32_768,
            "last_tps": 55.2, "last_ttft": 0.4, "state": "generating", "mode": mode}
    for key, value in info.items():
        setattr(bar.info, key, value)
    line = bar.status_text(80)
    assert line.cell_len <= 80, line.plain
    assert f" · {label} · " in line.plain


def test_a_linked_config_keeps_its_link_and_the_file_it_points_to_gets_the_rule(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "glmchat.toml").write_text("# from my dotfiles\n", encoding="utf-8")
    link = tmp_path / "config.toml"
    link.symlink_to(dotfiles / "glmchat.toml")
    add_allow_rule("run_shell", "make test*", link)
    assert link.is_symlink()
    text = (dotfiles / "glmchat.toml").read_text()
    assert "# from my dotfiles" in text and '"make test*" = "allow"' in text


def test_saving_a_rule_says_when_an_earlier_rule_still_decides(tmp_path):
    from glmchat.config_rules import always_allow
    from glmchat.session import ChatSession

    write_config('[tools.rules]\nrun_shell = { "git *" = "ask" }\n')
    session = ChatSession(ScriptedEngine(["x"]), load_settings(), tools=ToolRegistry.builtin(), tools_enabled=True,
                          workspace=Workspace(tmp_path))
    saved, note = always_allow(session, ToolCall("run_shell", {"command": "git log"}, ""), "git log*")
    assert saved and '"git *" = "ask"' in note and "comes first" in note
    saved, note = always_allow(session, ToolCall("run_shell", {"command": "ls -la"}, ""), "ls*")
    assert saved and "run without asking from now on" in note
