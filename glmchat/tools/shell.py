"""Running commands: own process group, captured and capped output, no orphans.

Every command starts in a new session (so its own process group). On timeout or cancel the whole
group gets SIGTERM, then SIGKILL after a short grace. When the command ends normally, anything it
left running in the background is stopped the same way, so nothing outlives the call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from glmchat.tools.base import ToolResult, is_cancelled
from glmchat.tools.workspace import ToolError

GRACE_SECONDS = 1.0  # between SIGTERM and SIGKILL
POLL_SECONDS = 0.05
DRAIN_SECONDS = 0.5  # how long the pipes may stay open after the command exited
SHELL_CAP = 24_000  # bytes of stdout run_shell / python keep (head + tail); stderr gets a third of it


class _Capture:
    """Reads one pipe in a thread, keeping the head and the tail within `cap` bytes."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._half = max(cap // 2, 1)
        self._stream = stream
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        try:
            while True:
                chunk = self._stream.read1(65536) if hasattr(self._stream, "read1") else self._stream.read(65536)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self._half - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    if len(self.tail) > self._half:
                        del self.tail[: len(self.tail) - self._half]
        except (OSError, ValueError):
            pass

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


def kill_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL whatever is still there after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not group_alive(pgid):
            return
        time.sleep(POLL_SECONDS)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    """True while some live (not zombie) process of group `pgid` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = _proc_group_states(pgid)
    if members is None:  # no /proc (macOS): trust killpg
        return True
    return any(state != "Z" for state in members)


def _proc_group_states(pgid: int) -> list[str] | None:
    """States of the processes in group `pgid` read from /proc, or None where /proc is missing."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    states = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[2] == str(pgid):
            states.append(fields[0])
    return states


def run_process(
    argv: list[str],
    cwd: Path,
    timeout: float,
    cancel: Any = None,
    output_cap: int = 30_000,
    env: dict[str, str] | None = None,
) -> ProcessResult:
    """Run `argv` in `cwd` in its own process group; kill the group on timeout or cancel."""
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("PAGER", "cat")
    run_env.setdefault("GIT_PAGER", "cat")
    run_env["PYTHONUNBUFFERED"] = "1"
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=run_env,
        )
    except OSError as exc:
        raise ToolError(f"Cannot start {argv[0]}: {exc.strerror or exc}.", "Check that the program exists.") from None
    pgid = proc.pid  # leader of its own new session and group
    assert proc.stdout is not None and proc.stderr is not None
    out = _Capture(proc.stdout, output_cap)
    err = _Capture(proc.stderr, max(output_cap // 3, 1000))
    timed_out = cancelled = stopped_background = False
    deadline = started + timeout
    try:
        while proc.poll() is None:
            if is_cancelled(cancel):
                cancelled = True
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
            time.sleep(POLL_SECONDS)
        if cancelled or timed_out:
            kill_group(pgid)
            proc.wait()
        else:
            # the command is done; background children may still hold the pipes or just linger
            out.thread.join(DRAIN_SECONDS)
            err.thread.join(max(0.0, DRAIN_SECONDS - (time.monotonic() - started)))
            if group_alive(pgid):
                stopped_background = True
                kill_group(pgid)
    finally:
        if proc.poll() is None:  # interrupted by an exception: never leave it behind
            kill_group(pgid, grace=0.2)
            proc.wait()
        out.thread.join(2.0)
        err.thread.join(2.0)
        for stream in (proc.stdout, proc.stderr):
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
        pgid=pgid,
    )


def shell_argv(command: str) -> list[str]:
    """The argv that runs `command` through the user's POSIX shell."""
    return ["/bin/sh", "-c", command]


def run_shell_command(command: str, cwd: Path, timeout: float, cancel: Any = None, output_cap: int = 30_000) -> ProcessResult:
    if not command.strip():
        raise ToolError("The command is empty.", "Give a shell command to run.")
    return run_process(shell_argv(command), cwd, timeout, cancel, output_cap)


def run_python_code(code: str, cwd: Path, timeout: float, cancel: Any = None, output_cap: int = 30_000) -> ProcessResult:
    """Run `code` with this interpreter in a subprocess (from a temporary file outside the workspace)."""
    if not code.strip():
        raise ToolError("The code is empty.", "Give Python code to run.")
    fd, name = tempfile.mkstemp(prefix="glmchat-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(code)
        return run_process([sys.executable, name], cwd, timeout, cancel, output_cap)
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
