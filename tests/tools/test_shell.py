"""run_shell and python: exit codes, output caps, timeouts, cancellation, and no processes left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from glmchat.engine.base import CancelToken
from glmchat.tools import ToolContext, ToolRegistry, UndoLog, Workspace
from glmchat.tools.shell import group_alive

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "data.txt").write_text("payload\n")
    return Workspace(tmp_path)


@pytest.fixture
def reg() -> ToolRegistry:
    return ToolRegistry.builtin()


def live_processes_with(marker: str) -> list[str]:
    """`ps` lines "pid pgid stat args" of live (not zombie) processes that contain `marker`."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    return [" ".join(r) for r in rows if len(r) == 4 and marker in r[3] and not r[2].startswith("Z")]


def live_sleeps(n: str) -> list[str]:
    """Live processes that are exactly `sleep n`."""
    return [line for line in live_processes_with(n) if line.split(None, 3)[3] == f"sleep {n}"]


def unique_sleep() -> tuple[str, str]:
    """A `sleep` argument nobody else uses, so ps can find exactly our processes."""
    n = f"{30 + uuid.uuid4().int % 1000 / 1000 + 0.0001:.4f}"
    return n, f"sleep {n}"


@pytest.mark.slow
def test_exit_code_stdout_stderr_and_cwd(reg: ToolRegistry, ws: Workspace) -> None:
    r = reg.execute("run_shell", {"command": "cat data.txt; pwd; echo oops >&2; exit 3"}, ToolContext(ws))
    assert not r.ok and r.error == "The command exited with code 3."
    assert r.output == f"exit code: 3\n--- stdout ---\npayload\n{ws.root}\n--- stderr ---\noops"
    assert r.meta["exit_code"] == 3
    r = reg.execute("run_shell", {"command": "true"}, ToolContext(ws))
    assert r.ok and r.output == "exit code: 0\n--- stdout ---\n(empty)"
    assert "empty" in reg.execute("run_shell", {"command": "  "}, ToolContext(ws)).error


@pytest.mark.slow
def test_shell_output_is_capped_head_and_tail(reg: ToolRegistry, ws: Workspace) -> None:
    cmd = "echo FIRST; head -c 300000 /dev/zero | tr '\\0' 'x'; echo; echo LAST"
    r = reg.execute("run_shell", {"command": cmd}, ToolContext(ws))
    assert r.ok and r.truncated
    assert "FIRST" in r.output and r.output.rstrip().endswith("LAST")
    assert "[output truncated: " in r.output and "characters omitted here]" in r.output
    assert len(r.output) < 30_000


@pytest.mark.slow
def test_timeout_kills_the_whole_group(reg: ToolRegistry, ws: Workspace) -> None:
    n, cmd = unique_sleep()
    t0 = time.monotonic()
    r = reg.execute("run_shell", {"command": f"{cmd} & {cmd}", "timeout": 0.5}, ToolContext(ws))
    took = time.monotonic() - t0
    assert not r.ok and r.meta["timed_out"] and "timed out after 0.5 s" in r.error
    assert took < 5, took
    assert not group_alive(r.meta["pgid"])
    assert live_processes_with(n) == []


@pytest.mark.slow
def test_term_ignoring_command_gets_sigkill(reg: ToolRegistry, ws: Workspace) -> None:
    n, cmd = unique_sleep()
    t0 = time.monotonic()
    r = reg.execute("run_shell", {"command": f"trap '' TERM; {cmd}; echo survived"}, ToolContext(ws, timeout=0.5))
    assert r.meta["timed_out"] and "survived" not in r.output
    assert time.monotonic() - t0 < 6
    assert live_processes_with(n) == []


@pytest.mark.slow
@pytest.mark.parametrize("make_cancel", [threading.Event, CancelToken], ids=["event", "cancel-token"])
def test_cancel_mid_way_kills_process_group(reg: ToolRegistry, ws: Workspace, make_cancel) -> None:
    n, cmd = unique_sleep()
    cancel = make_cancel()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(reg.execute("run_shell", {"command": f"sh -c '{cmd} & {cmd}'"}, ToolContext(ws, cancel=cancel)))
    )
    worker.start()
    deadline = time.monotonic() + 5
    while len(live_sleeps(n)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    running = live_sleeps(n)
    assert len(running) == 2, running  # both sleeps started, in the tool's own process group
    pgids = {line.split()[1] for line in running}
    assert len(pgids) == 1 and int(pgids.pop()) != os.getpgid(0)
    (cancel.set if isinstance(cancel, threading.Event) else cancel.cancel)()
    worker.join(10)
    assert not worker.is_alive()
    r = results[0]
    assert not r.ok and r.meta["cancelled"] and "cancelled" in r.error
    pgid = r.meta["pgid"]
    assert not group_alive(pgid)
    try:
        os.killpg(pgid, 0)
        # only zombies waiting for init to reap them may remain; none of them may be running
        assert live_processes_with(n) == []
    except ProcessLookupError:
        pass
    assert live_processes_with(n) == []


@pytest.mark.slow
def test_background_children_are_stopped_when_command_ends(reg: ToolRegistry, ws: Workspace) -> None:
    n, cmd = unique_sleep()
    t0 = time.monotonic()
    r = reg.execute("run_shell", {"command": f"{cmd} > /dev/null 2>&1 & {cmd} & echo started"}, ToolContext(ws))
    assert r.ok and "started" in r.output and "background processes" in r.output
    assert time.monotonic() - t0 < 5
    assert live_processes_with(n) == []


@pytest.mark.slow
def test_python_tool(reg: ToolRegistry, ws: Workspace) -> None:
    r = reg.execute("python", {"code": "import os\nprint(open('data.txt').read().strip(), os.getcwd())"}, ToolContext(ws))
    assert r.ok and r.output == f"exit code: 0\n--- stdout ---\npayload {ws.root}"
    r = reg.execute("python", {"code": "raise ValueError('bad input')"}, ToolContext(ws))
    assert not r.ok and r.meta["exit_code"] == 1 and "ValueError: bad input" in r.output
    assert list(ws.root.glob("*.py")) == []  # the code file lives outside the workspace and is removed


@pytest.mark.slow
def test_python_timeout(reg: ToolRegistry, ws: Workspace) -> None:
    t0 = time.monotonic()
    r = reg.execute("python", {"code": "import time\nprint('begun', flush=True)\nwhile True: time.sleep(0.01)", "timeout": "0.5"}, ToolContext(ws))
    assert not r.ok and r.meta["timed_out"] and "begun" in r.output
    assert time.monotonic() - t0 < 5
    assert not group_alive(r.meta["pgid"])


def test_timeout_argument_is_bounded(reg: ToolRegistry, ws: Workspace) -> None:
    from glmchat.tools.registry import MAX_TIMEOUT, effective_timeout

    tool = reg.get("run_shell")
    ctx = ToolContext(ws, undo=UndoLog(), timeout=12)
    assert effective_timeout(tool, {"timeout": 10_000}, ctx) == MAX_TIMEOUT
    assert effective_timeout(tool, {}, ctx) == 12
    assert effective_timeout(tool, {}, ToolContext(ws)) == 60
