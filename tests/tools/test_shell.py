"""run_shell and python: exit codes, output caps, timeouts, cancellation, and no processes left behind."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from glmchat.engine.base import CancelToken
from glmchat.tools import ToolContext, ToolRegistry, UndoLog, Workspace
from glmchat.tools.sandbox import ProcessPolicy, sandbox_state, use_policy
from glmchat.tools.shell import group_alive

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "data.txt").write_text("payload\n")
    return Workspace(tmp_path)


@pytest.fixture
def reg() -> ToolRegistry:
    return ToolRegistry.builtin()


@pytest.fixture(params=["off", "bwrap"])
def mode(request):
    """Each process test runs unsandboxed and, where bubblewrap works here, sandboxed."""
    policy = ProcessPolicy(sandbox="off" if request.param == "off" else "auto")
    if request.param == "bwrap" and not sandbox_state(policy).active:
        pytest.skip(f"sandbox code path not exercised here: {sandbox_state(policy).reason}")
    old = use_policy(policy)
    yield request.param
    use_policy(old)


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
def test_background_children_are_stopped_when_command_ends(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    t0 = time.monotonic()
    r = reg.execute("run_shell", {"command": f"{cmd} > /dev/null 2>&1 & {cmd} & echo started"}, ToolContext(ws))
    assert r.ok and "started" in r.output
    assert r.meta["sandboxed"] == (mode == "bwrap")
    # unsandboxed glmchat stops them and says so; in the sandbox they end with its PID namespace
    assert ("background processes" in r.output) == (mode == "off")
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


# ---- the attack: descendants that leave the process group (setsid, start_new_session) -------------


def escapers(cmd: str) -> str:
    """A shell line that starts two `cmd` grandchildren outside the tool's process group, both holding
    the output pipes: one through setsid(1), one through Popen(start_new_session=True)."""
    popen = f"import subprocess; subprocess.Popen({cmd.split()!r}, start_new_session=True)"
    return f"setsid {cmd} & {shlex.quote(sys.executable)} -c {shlex.quote(popen)}"


def running(cmd: str) -> str:
    """A shell line that prints how many `cmd` processes run at that moment, as "running=N"."""
    return f'echo running=$(ps -eo args= | grep -cx "{cmd}")'


def timed(reg: ToolRegistry, ws: Workspace, tool: str, args: dict) -> tuple:
    """(result, seconds the call took)."""
    t0 = time.monotonic()
    r = reg.execute(tool, args, ToolContext(ws))
    return r, time.monotonic() - t0


def wait_for(n: str, count: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(live_sleeps(n)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return live_sleeps(n)


@pytest.mark.slow
def test_setsid_grandchildren_are_gone_when_the_command_ends(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    r, took = timed(reg, ws, "run_shell", {"command": f"{escapers(cmd)}; sleep 0.5; {running(cmd)}", "timeout": 10})
    assert r.ok and "running=2" in r.output, r.output  # both escaped the group and were running
    assert live_sleeps(n) == []  # both left the group; neither outlived the call
    assert took < 2.0, took  # the grandchildren held stdout/stderr: the call did not wait for them


@pytest.mark.slow
def test_setsid_grandchildren_die_on_timeout_within_timeout_plus_one_second(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    r, took = timed(reg, ws, "run_shell", {"command": f"{escapers(cmd)}; {cmd}", "timeout": 2})
    assert r.meta["timed_out"]
    assert took < 2 + 1, took
    assert live_sleeps(n) == []


@pytest.mark.slow
def test_python_tool_grandchildren_that_left_the_group_are_gone(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    code = (
        "import subprocess, time\n"
        f"subprocess.Popen(['sleep', '{n}'], start_new_session=True)\n"
        f"subprocess.Popen(['setsid', 'sleep', '{n}'])\n"
        "print('started', flush=True)\n"
    )
    count = f"print(subprocess.run('{running(cmd)}', shell=True, capture_output=True, text=True).stdout)\n"
    r, took = timed(reg, ws, "python", {"code": code + "time.sleep(0.5)\n" + count})
    assert r.ok and "running=2" in r.output and took < 2.0, (r.output, took)
    assert live_sleeps(n) == []
    r, took = timed(reg, ws, "python", {"code": code + "time.sleep(60)\n", "timeout": 1.5})
    assert r.meta["timed_out"] and "started" in r.output
    assert took < 1.5 + 1, took
    assert live_sleeps(n) == []


@pytest.mark.slow
def test_cancel_kills_setsid_grandchildren_and_returns_at_once(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    cancel = threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(reg.execute("run_shell", {"command": f"{escapers(cmd)}; {cmd}"}, ToolContext(ws, cancel=cancel))))
    worker.start()
    assert len(wait_for(n, 3)) == 3  # the two escapers and the command's own sleep
    t0 = time.monotonic()
    cancel.set()
    worker.join(10)
    took = time.monotonic() - t0
    assert results and results[0].meta["cancelled"]
    assert took < 1.0, took
    assert live_sleeps(n) == []


@pytest.mark.slow
def test_children_that_clear_their_environment_are_found_through_their_parent_and_session(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    line = f"setsid sh -c 'env -i {cmd} & env -i {cmd}' & sleep 0.5; {running(cmd)}"
    r, took = timed(reg, ws, "run_shell", {"command": line, "timeout": 10})
    assert r.ok and "running=2" in r.output, r.output
    assert took < 2.0, took
    assert live_sleeps(n) == []


@pytest.mark.slow
def test_a_pipe_held_by_an_unfindable_process_does_not_hold_the_call(reg: ToolRegistry, ws: Workspace) -> None:
    """Outside the sandbox, a double fork that also clears its environment leaves no trace to find it
    by; it still keeps stdout open. The call returns on time anyway, with what was written before."""
    n, cmd = unique_sleep()
    old = use_policy(ProcessPolicy(sandbox="off"))
    try:
        r, took = timed(reg, ws, "run_shell", {"command": f"setsid sh -c '(env -i {cmd} &)'; sleep 0.3; {running(cmd)}", "timeout": 10})
    finally:
        use_policy(old)
        for line in live_sleeps(n):
            os.kill(int(line.split()[0]), 9)
    assert r.ok and "running=1" in r.output, r.output
    assert took < 2.0, took


@pytest.mark.slow
def test_in_the_sandbox_even_an_unfindable_process_dies_with_the_command(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    if mode != "bwrap":
        pytest.skip("the PID namespace is what catches this; outside the sandbox see the test above")
    n, cmd = unique_sleep()
    r = reg.execute("run_shell", {"command": f"setsid sh -c '(env -i {cmd} &)'; sleep 0.3; {running(cmd)}", "timeout": 10}, ToolContext(ws))
    assert r.ok and "running=1" in r.output, r.output
    assert live_sleeps(n) == []


@pytest.mark.slow
def test_a_command_that_keeps_forking_escapers_leaves_none_behind(reg: ToolRegistry, ws: Workspace, mode: str) -> None:
    n, cmd = unique_sleep()
    r, took = timed(reg, ws, "run_shell", {"command": f"while true; do setsid {cmd} & sleep 0.01; done", "timeout": 1})
    assert r.meta["timed_out"] and took < 1 + 1, took
    assert live_sleeps(n) == []
