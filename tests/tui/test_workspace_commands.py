"""The workspace slash commands in the TUI: /read, /run, /py, /ls, /grep, /diff, /attach, /tools, /undo."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tools import ToolRegistry, Workspace
from glmchat.tools.shell import group_alive
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.widgets.attachment_bar import AttachmentBar
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.output_block import OutputBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import make_app, send, wait_for, wait_ready

SIZE = (110, 36)


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# Demo\n\nThe answer is 42.\n")
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("def main():\n    return 42\n")
    return Workspace(root)


async def slash(pilot, app, text: str) -> None:
    app.chat_screen.prompt.load_text(text)
    app.chat_screen.prompt.focus()
    await pilot.press("enter")
    await pilot.pause()


def last_error(app) -> ErrorBlock:
    return list(app.chat_screen.chat.query(ErrorBlock))[-1]


def notices(app) -> list[str]:
    return [n.text for n in app.chat_screen.chat.query(NoticeBlock)]


async def finished_block(pilot, app, timeout: float = 10.0) -> OutputBlock:
    await wait_for(pilot, lambda: app.chat_screen.chat.query(OutputBlock) and not app.chat_screen.chat.query(OutputBlock).last().running, timeout)
    await pilot.pause()
    return app.chat_screen.chat.query(OutputBlock).last()


async def test_read_attaches_to_the_next_message_with_a_chip(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>It says 42."])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/read README.md")
        assert app.chat_screen.session.pending_attachments == [("README.md", "# Demo\n\nThe answer is 42.\n")]
        assert "📎 Attached README.md (3 lines) to your next message." in notices(app)
        bar = app.query_one("#attachments", AttachmentBar)
        assert bar.display and bar.labels == ["README.md · ~12 tok · <1% of ctx"]  # an estimate: the scripted engine has no tokenizer
        await slash(pilot, app, "/read src/main.py:2-2")
        assert app.chat_screen.session.pending_attachments[-1] == ("src/main.py:2-2", "    return 42\n")
        assert [label.split(" · ")[0] for label in bar.labels] == ["README.md", "src/main.py:2-2"]
        await send(pilot, app, "What is the answer?")
        sent = engine.requests[-1].messages[-1]["content"]
        assert "The answer is 42." in sent and "    return 42" in sent and sent.startswith("What is the answer?")
        assert not bar.display and app.chat_screen.session.pending_attachments == []
        user = app.chat_screen.chat.query(UserMessage).last()
        assert user.text == "What is the answer?" and user.attachments == ["README.md (3 lines)", "src/main.py:2-2 (1 line)"]
        # errors come from the tools layer as message + hint
        await slash(pilot, app, "/read ../../etc/passwd")
        assert "outside the workspace" in last_error(app).message and last_error(app).hint
        await slash(pilot, app, "/read README.md:9-12")
        assert "only 3 lines" in last_error(app).message
        await slash(pilot, app, "/read")
        assert "/read needs a path" in last_error(app).message


@pytest.mark.slow
async def test_run_shows_output_and_offers_to_attach(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>Two files."])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/run ls; echo done >&2")
        block = await finished_block(pilot, app)
        assert block.ok and block.meta["exit_code"] == 0
        shown = str(block.query_one(".tool-output").render())
        assert shown.startswith("exit code: 0") and "README.md" in shown and "src" in shown and "done" in shown
        button = block.query_one(".attach-button")
        assert button.display
        assert app.chat_screen.session.pending_attachments == []
        await pilot.click(button)
        await pilot.pause()
        assert app.chat_screen.session.pending_attachments and app.chat_screen.session.pending_attachments[0][0] == "$ ls; echo done >&2"
        assert "README.md" in app.chat_screen.session.pending_attachments[0][1]
        assert app.query_one("#attachments", AttachmentBar).labels[0].startswith("$ ls; echo done >&2 · ~")
        await send(pilot, app, "How many files?")
        assert "README.md" in engine.requests[-1].messages[-1]["content"]
        # a failing command: exit code shown, the block marked, the key `a` attaches it
        await slash(pilot, app, "/run echo oops; exit 3")
        block = await finished_block(pilot, app)
        assert not block.ok and block.has_class("-failed") and "exit code: 3" in str(block.query_one(".tool-output").render())
        block.focus()
        await pilot.press("a")
        await pilot.pause()
        assert app.chat_screen.session.pending_attachments[-1][0] == "$ echo oops; exit 3"
        await slash(pilot, app, "/attach")
        assert "already attached" in last_error(app).message


@pytest.mark.slow
async def test_py_ls_grep_and_attach_command(tmp_path, ws):
    app = make_app(tmp_path, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/py print(2**10)")
        block = await finished_block(pilot, app)
        assert block.ok and "1024" in block.output
        await slash(pilot, app, "/ls src")
        block = await finished_block(pilot, app)
        assert "main.py" in block.output
        await slash(pilot, app, "/grep 'return \\d+' src")
        block = await finished_block(pilot, app)
        assert "main.py:2" in block.output
        await slash(pilot, app, "/attach")
        assert app.chat_screen.session.pending_attachments[-1][0].startswith("grep ")
        await slash(pilot, app, "/ls ../..")
        block = await finished_block(pilot, app)
        assert not block.ok and "outside the workspace" in block.output and not block.query_one(".attach-button").display


@pytest.mark.slow
async def test_diff_attaches_git_diff(tmp_path, ws):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    app = make_app(tmp_path, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/diff")
        await wait_for(pilot, lambda: app.chat_screen.chat.query(ErrorBlock))
        assert "not inside a git repository" in last_error(app).message
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
            subprocess.run(cmd, cwd=ws.root, check=True, env=env)
        (ws.root / "README.md").write_text("# Demo\n\nThe answer is 43.\n")
        await slash(pilot, app, "/diff")
        await wait_for(pilot, lambda: app.chat_screen.session.pending_attachments)
        label, text = app.chat_screen.session.pending_attachments[0]
        assert label == "git diff" and "+The answer is 43." in text


async def test_tools_on_off_list_and_status_bar(tmp_path, ws):
    app = make_app(tmp_path, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        assert "tools on" not in str(app.chat_screen.status.status_text())
        await slash(pilot, app, "/tools on")
        assert app.chat_screen.session.tools_enabled and "tools on" in str(app.chat_screen.status.status_text())
        assert app.chat_screen.session.undo_log is not None
        await slash(pilot, app, "/tools list")
        assert any("read_file (read)" in n and "run_shell (execute)" in n for n in notices(app))
        await slash(pilot, app, "/tools off")
        assert not app.chat_screen.session.tools_enabled and "tools on" not in str(app.chat_screen.status.status_text())
        await slash(pilot, app, "/tools maybe")
        assert "/tools does not know" in last_error(app).message


async def test_undo_shares_the_log_with_model_edits(tmp_path, ws):
    script = (
        "</think><tool_call>write_file<arg_key>path</arg_key><arg_value>README.md</arg_value>"
        "<arg_key>content</arg_key><arg_value>changed</arg_value></tool_call>"
    )
    engine = ScriptedEngine(scripts=[script, "</think>Changed it."])
    app = make_app(tmp_path, engine=engine, workspace=ws, tools=ToolRegistry.builtin())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/undo")
        await wait_for(pilot, lambda: any("Nothing to undo" in n for n in notices(app)))
        log = app.chat_screen.session.undo_log
        assert log is not None
        await slash(pilot, app, "/tools on")
        app.chat_screen.prompt.load_text("change the readme")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert (ws.root / "README.md").read_text() == "changed"
        assert app.chat_screen.session.undo_log is log and len(log) == 1
        await slash(pilot, app, "/undo")
        await wait_for(pilot, lambda: any("Undid write_file" in n for n in notices(app)))
        assert (ws.root / "README.md").read_text() == "# Demo\n\nThe answer is 42.\n"


@pytest.mark.slow
async def test_escape_during_run_kills_the_whole_process_group(tmp_path, ws):
    app = make_app(tmp_path, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await slash(pilot, app, "/run sleep 30 & sleep 30")
        await wait_for(pilot, lambda: app.chat_screen.direct.cancel_event is not None)
        await pilot.pause(0.4)  # the shell and both sleeps are running
        assert "Esc stops" in str(app.chat_screen.status.status_text())
        t0 = time.monotonic()
        await pilot.press("escape")
        block = await finished_block(pilot, app, timeout=8)
        assert time.monotonic() - t0 < 5
        assert block.meta["cancelled"] and not block.ok
        assert "stopped (Esc)" in str(block.query_one(".tool-output").render())
        pgid = block.meta["pgid"]
        deadline = time.monotonic() + 3
        while group_alive(pgid) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert not group_alive(pgid), "a process of the command's group survived Esc"
        ps = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
        left = [line for line in ps.splitlines() if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z")]
        assert left == []
        assert app.chat_screen.direct.cancel_event is None and "ready" in str(app.chat_screen.status.status_text())
