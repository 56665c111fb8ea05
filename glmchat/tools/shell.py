"""Running commands: own session, captured and capped output, a clean environment, no orphans.

Every command starts in a new session (so its own process group) with `GLMCHAT_TOOL_CALL=<random>`
in an environment stripped of secrets (`tool_env`). On timeout or cancel everything the call
started gets SIGTERM, then SIGKILL after a short grace: the group and, through /proc, the
processes that left it with `setsid` (`reaper`). When the command ends normally, whatever it left
running in the background is stopped the same way, so nothing outlives the call. The pipes are read
with a deadline: a process that kept them open cannot hold the call. `run_shell_command` and
`run_python_code` run inside bubblewrap where it works (`sandbox`).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable

from glmchat.tools import reaper
from glmchat.tools.base import ToolResult, is_cancelled
from glmchat.tools.sandbox import ProcessPolicy, current_policy, sandbox_state, wrap
from glmchat.tools.tool_env import tool_environment
from glmchat.tools.workspace import ToolError

GRACE_SECONDS = 0.5  # between SIGTERM and SIGKILL
POLL_SECONDS = 0.05
DRAIN_SECONDS = 0.5  # how long the pipes may stay open after the command exited
SANDBOX_EXIT_SECONDS = 0.5  # how long bubblewrap may take to tear its namespace down after the command exited
LAST_READ_SECONDS = 0.2
REAP_SECONDS = 0.3  # after SIGKILL  # reading what is already in a pipe once the call is over
SHELL_CAP = 24_000  # bytes of stdout run_shell / python keep (head + tail); stderr gets a third of it

group_alive = reaper.group_alive


class _Capture:
    """Reads one pipe in a thread, keeping the head and the tail within `cap` bytes, until EOF or stop()."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._half = max(cap // 2, 1)
        self._fd = stream.fileno()
        self._stopped: float | None = None
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                stopped = self._stopped
                if stopped is not None and time.monotonic() - stopped > LAST_READ_SECONDS:
                    break
                events = poller.poll(int(POLL_SECONDS * 1000))
                if not events:
                    if stopped is not None:
                        break  # nothing more waiting in the pipe
                    continue
                if events[0][1] & select.POLLNVAL:
                    break
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    break
                self._keep(chunk)
        except (OSError, ValueError):
            pass

    def _keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self._half:
                del self.tail[: len(self.tail) - self._half]

    def stop(self) -> None:
        """Read what is already in the pipe, then let go of it even if a writer still holds it."""
        if self._stopped is None:
            self._stopped = time.monotonic()
        self.thread.join(LAST_READ_SECONDS + 1.0)

    def text(self) -> tuple[str, bool]:
        """Decoded output and whether something was left out in the middle."""
        kept = len(self.head) + len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        if self.total <= kept:
            return head + self.tail.decode("utf-8", errors="replace"), False
        tail = self.tail.decode("utf-8", errors="replace")
        note = f"\n[output truncated: {self.total - kept:,} characters omitted here]\n"
        return head + note + tail, True


@dataclass
class ProcessResult:
    """How a command ended."""

    exit_code: int | None  # None when it was killed by us
    stdout: str
    stderr: str
    timed_out: bool = False
    cancelled: bool = False
    truncated: bool = False
    elapsed: float = 0.0
    stopped_background: bool = False
    pgid: int | None = None
    sandboxed: bool = False


def process_env(env: dict[str, str] | None, policy: ProcessPolicy, marker: str) -> dict[str, str]:
    """The environment of a tool process: secrets left out, no pagers, unbuffered Python, the call's marker."""
    run_env = tool_environment(os.environ if env is None else env, policy.env_allow, policy.env_deny)
    run_env.setdefault("PAGER", "cat")
    run_env.setdefault("GIT_PAGER", "cat")
    run_env["PYTHONUNBUFFERED"] = "1"
    run_env[reaper.MARKER_VAR] = marker
    return run_env


def sandboxed_argv(argv: list[str], cwd: Path, policy: ProcessPolicy, files: Iterable[Path] = ()) -> tuple[list[str], bool]:
    """`argv` inside bubblewrap when the policy wants it and it works here; (argv, sandboxed)."""
    state = sandbox_state(policy)
    if state.active:
        return wrap(argv, cwd, network=policy.network, files=files), True
    if not policy.network:
        raise ToolError(
            f"[tools] network = false needs the sandbox, and it is off: {state.reason}.",
            'Install bubblewrap (and allow it user namespaces), or set [tools] network = true.',
        )
    return argv, False


def run_process(
    argv: list[str],
    cwd: Path,
    timeout: float,
    cancel: Any = None,
    output_cap: int = 30_000,
    env: dict[str, str] | None = None,
    *,
    policy: ProcessPolicy | None = None,
    sandbox: bool = False,
    files: Iterable[Path] = (),
) -> ProcessResult:
    """Run `argv` in `cwd` in its own session; stop all it started on timeout, cancel or its end.

    `sandbox`: run it in bubblewrap when the policy allows and it works (`files` are bound read-only).
    """
    policy = policy or current_policy()
    sandboxed = False
    if sandbox:
        argv, sandboxed = sandboxed_argv(argv, cwd, policy, files)
    marker = reaper.new_marker()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=process_env(env, policy, marker),
        )
    except OSError as exc:
        raise ToolError(f"Cannot start {argv[0]}: {exc.strerror or exc}.", "Check that the program exists.") from None
    assert proc.stdout is not None and proc.stderr is not None
    out = _Capture(proc.stdout, output_cap)
    err = _Capture(proc.stderr, max(output_cap // 3, 1000))
    try:
        timed_out, cancelled, stopped_background = _supervise(proc, marker, started + timeout, cancel, (out, err), sandboxed)
    finally:
        if proc.poll() is None:  # interrupted by an exception: never leave it behind
            reaper.stop_call(marker, proc.pid, 0.2)
            _reap(proc)
        for capture, stream in ((out, proc.stdout), (err, proc.stderr)):
            capture.stop()
            if not capture.thread.is_alive():  # never close a descriptor a reader may still use
                try:
                    stream.close()
                except OSError:
                    pass
    stdout, cut_out = out.text()
    stderr, cut_err = err.text()
    return ProcessResult(
        exit_code=None if (timed_out or cancelled) else proc.returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        cancelled=cancelled,
        truncated=cut_out or cut_err,
        elapsed=time.monotonic() - started,
        stopped_background=stopped_background,
        pgid=proc.pid,
        sandboxed=sandboxed,
    )


def _supervise(
    proc: subprocess.Popen, marker: str, deadline: float, cancel: Any, captures: tuple[_Capture, ...], sandboxed: bool
) -> tuple[bool, bool, bool]:
    """Wait for the command, the deadline or a cancel; stop what is left. → (timed_out, cancelled, stopped_background)."""
    timed_out = cancelled = False
    while proc.poll() is None:
        if is_cancelled(cancel):
            cancelled = True
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
        try:
            proc.wait(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.001)))
        except subprocess.TimeoutExpired:
            pass
    if cancelled or timed_out:
        reaper.stop_call(marker, proc.pid, GRACE_SECONDS)
        _reap(proc)
        return timed_out, cancelled, False
    # the command is done; background processes may still hold the pipes or just linger
    drain_end = min(time.monotonic() + DRAIN_SECONDS, max(deadline, time.monotonic()))
    for capture in captures:
        capture.thread.join(max(0.0, drain_end - time.monotonic()))
    if sandboxed:  # bubblewrap's init outlives its exit status by a moment; its PID namespace ends the rest
        reaper.wait_gone(marker, proc.pid, SANDBOX_EXIT_SECONDS)
    return False, False, reaper.stop_call(marker, proc.pid, GRACE_SECONDS)


def _reap(proc: subprocess.Popen) -> None:
    """Collect the killed command's exit status; one stuck in the kernel (state D) is not waited for."""
    try:
        proc.wait(REAP_SECONDS)
    except subprocess.TimeoutExpired:
        pass


def shell_argv(command: str) -> list[str]:
    """The argv that runs `command` through the user's POSIX shell."""
    return ["/bin/sh", "-c", command]


def run_shell_command(
    command: str, cwd: Path, timeout: float, cancel: Any = None, output_cap: int = 30_000, policy: ProcessPolicy | None = None,
    *, sandbox: bool = True,
) -> ProcessResult:
    """`command` through /bin/sh in the workspace, sandboxed where the policy and the machine allow
    (`sandbox=False` for the user's own /run: it is theirs, like a command typed in a shell)."""
    if not command.strip():
        raise ToolError("The command is empty.", "Give a shell command to run.")
    return run_process(shell_argv(command), cwd, timeout, cancel, output_cap, policy=policy, sandbox=sandbox)


def run_python_code(
    code: str, cwd: Path, timeout: float, cancel: Any = None, output_cap: int = 30_000, policy: ProcessPolicy | None = None,
    *, sandbox: bool = True,
) -> ProcessResult:
    """Run `code` with this interpreter in a subprocess (from a temporary file outside the workspace);
    sandboxed like run_shell_command unless `sandbox=False` (the user's own /py)."""
    if not code.strip():
        raise ToolError("The code is empty.", "Give Python code to run.")
    fd, name = tempfile.mkstemp(prefix="glmchat-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(code)
        return run_process([sys.executable, name], cwd, timeout, cancel, output_cap, policy=policy, sandbox=sandbox, files=[Path(name)])
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def format_process(result: ProcessResult, timeout: float, what: str = "command") -> str:
    """Exit status, stdout and stderr as one text for the model."""
    if result.timed_out:
        status = f"{what} timed out after {timeout:g} s; its process group was killed"
    elif result.cancelled:
        status = f"{what} cancelled by the user; its process group was killed"
    else:
        status = f"exit code: {result.exit_code}"
    parts = [status]
    if result.stopped_background:
        parts.append("[background processes left running by the command were stopped]")
    parts.append("--- stdout ---\n" + (result.stdout.rstrip("\n") if result.stdout else "(empty)"))
    if result.stderr:
        parts.append("--- stderr ---\n" + result.stderr.rstrip("\n"))
    return "\n".join(parts)


def process_result(res: ProcessResult, timeout: float, what: str) -> ToolResult:
    """A finished process as the ToolResult run_shell, python, /run and /py hand back."""
    out = format_process(res, timeout, what)
    meta = {"exit_code": res.exit_code, "timed_out": res.timed_out, "cancelled": res.cancelled, "elapsed": round(res.elapsed, 3), "pgid": res.pgid}
    meta["sandboxed"] = res.sandboxed
    if res.timed_out:
        err = f"The {what} timed out after {timeout:g} s and was killed (with its whole process group)."
        err += " Pass a larger timeout (at most 600) or run something shorter."
    elif res.cancelled:
        err = f"The {what} was cancelled by the user."
    elif res.exit_code != 0:
        err = f"The {what} exited with code {res.exit_code}."
    else:
        err = None
    return ToolResult(out, ok=err is None, error=err, truncated=res.truncated, meta=meta)
