"""Is the process that was streaming a message still alive? (for marking crashed turns interrupted)

A writer records {"pid": ..., "token": ...} in the message's meta. The token ties the pid to one
process lifetime (Linux: boot id + process start time), so a pid reused after a crash, a reboot or in
a fresh container does not keep a dead turn looking "partial" forever.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_token(pid: int) -> str | None:
    """A string naming this one run of process `pid`, or None where the system does not tell us."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # field 22 (starttime) counted after the ")" that closes the command name
    rest = stat.rsplit(")", 1)[-1].split()
    if len(rest) < 20:
        return None
    return f"{_boot_id()}:{rest[19]}"


def writer_info() -> dict[str, Any]:
    """What a writer stores about itself."""
    pid = os.getpid()
    return {"pid": pid, "token": process_token(pid)}


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there; assume it is gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def writer_alive(info: Any) -> bool:
    """True when the process described by `info` (from `writer_info`) is still running."""
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return False
    pid = info["pid"]
    recorded = info.get("token")
    if recorded:
        current = process_token(pid)
        if current is not None:
            return current == recorded
    return _pid_running(pid)
