"""Finding and stopping every process a tool call started, including those that left its group.

A command runs as the leader of a new session and process group, with `GLMCHAT_TOOL_CALL=<random>`
in its environment. A descendant can leave the group (`setsid`, `Popen(start_new_session=True)`),
but it keeps the marker unless it replaces its whole environment, and until then its own children
stay in its session. So the processes of a call are, read from /proc: the group, every process
whose environment holds the marker, their descendants, and everything in their sessions. Where
there is no /proc (macOS) only the process group can be found.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MARKER_VAR = "GLMCHAT_TOOL_CALL"
POLL_SECONDS = 0.05
KILL_ROUNDS = 20  # SIGKILL sweeps at most; each catches what forked since the last one


def new_marker() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str


def _read_stat(entry: Path) -> _Proc | None:
    try:
        stat = (entry / "stat").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 4:
        return None
    try:
        return _Proc(int(entry.name), int(fields[1]), int(fields[2]), int(fields[3]), fields[0])
    except ValueError:
        return None


def _snapshot() -> dict[int, _Proc] | None:
    """Every process /proc lists, or None where there is no /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    out = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            p = _read_stat(entry)
            if p is not None:
                out[p.pid] = p
    return out


def _has_marker(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read().split(b"\0")
    except OSError:
        return False


def _protected(procs: dict[int, _Proc]) -> set[int]:
    """This process and its ancestors (never signalled), and pid 1."""
    keep = {1, os.getpid()}
    pid = os.getpid()
    while pid in procs and procs[pid].ppid not in keep and procs[pid].ppid > 0:
        pid = procs[pid].ppid
        keep.add(pid)
    return keep


def call_processes(marker: str, pgid: int) -> set[int] | None:
    """Live (not zombie) pids that belong to the call; None where /proc is missing."""
    procs = _snapshot()
    if procs is None:
        return None
    keep = _protected(procs)
    kept_sids = {procs[pid].sid for pid in keep if pid in procs} | {os.getsid(0), 0}
    needle = f"{MARKER_VAR}={marker}".encode()
    found = {p.pid for p in procs.values() if p.pgid == pgid or p.sid == pgid} - keep
    found |= {pid for pid in procs if pid not in found and pid not in keep and _has_marker(pid, needle)}
    while True:  # descendants and session members of what was found, to a fixed point
        sids = {procs[pid].sid for pid in found} - kept_sids
        more = {p.pid for p in procs.values() if p.pid not in found and p.pid not in keep and (p.ppid in found or p.sid in sids)}
        if not more:
            break
        found |= more
    return {pid for pid in found if procs[pid].state != "Z"}


def group_alive(pgid: int) -> bool:
    """True while some live (not zombie) process of group `pgid` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    procs = _snapshot()
    if procs is None:  # no /proc (macOS): trust killpg
        return True
    return any(p.pgid == pgid and p.state != "Z" for p in procs.values())


def _signal(pids: set[int], pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _remaining(marker: str, pgid: int) -> set[int]:
    found = call_processes(marker, pgid)
    if found is None:  # no /proc: the group is all we can see
        return {pgid} if group_alive(pgid) else set()
    return found


def wait_gone(marker: str, pgid: int, timeout: float) -> bool:
    """Give the call's processes `timeout` s to end on their own (a sandbox tearing down); True if they did."""
    end = time.monotonic() + timeout
    while _remaining(marker, pgid):
        if time.monotonic() >= end:
            return False
        time.sleep(0.01)
    return True


def stop_call(marker: str, pgid: int, grace: float) -> bool:
    """SIGTERM everything of the call, SIGKILL what is left after `grace` s. True if anything was alive."""
    left = _remaining(marker, pgid)
    if not left:
        return False
    _signal(left, pgid, signal.SIGTERM)
    end = time.monotonic() + grace
    while left and time.monotonic() < end:
        time.sleep(POLL_SECONDS)
        left = _remaining(marker, pgid)
    for _ in range(KILL_ROUNDS):
        if not left:
            break
        _signal(left, pgid, signal.SIGSTOP)  # frozen processes cannot fork while the sweep goes on
        _signal(left, pgid, signal.SIGKILL)
        time.sleep(0.01)
        left = _remaining(marker, pgid)
    return True
