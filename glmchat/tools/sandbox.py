"""How tool processes run: the sandbox (bubblewrap), the network switch and the environment lists.

`ProcessPolicy` is `[tools] sandbox`, `network` and `env_allow` (plus the variable `[remote]
api_key_env` names, which is always left out). The front ends install theirs once with
`use_settings()`; until then every process runs under the defaults: sandbox "auto", network on.

Where `bwrap` is installed and works here (probed once per process with the very flags a call uses;
containers often forbid the namespaces it needs), `run_shell`, `python`, `/run` and `/py` run
inside it: the whole filesystem read-only, the workspace writable, a private /tmp and /dev/shm,
their own PID namespace (whatever the command leaves behind dies with it) and, with
`network = false`, no network. Otherwise they run unconfined, and `glmchat doctor` says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

SANDBOX_MODES = ("auto", "off")
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProcessPolicy:
    """The [tools] settings that shape a tool process."""

    sandbox: str = "auto"  # "auto": bubblewrap where it works; "off": never
    network: bool = True
    env_allow: tuple[str, ...] = ()  # variables let through although they look like secrets
    env_deny: tuple[str, ...] = ()  # further variables to leave out (the remote endpoint's key)

    @classmethod
    def from_settings(cls, settings: Any) -> ProcessPolicy:
        """From a `Settings` (its [tools] and [remote] api_key_env) or a bare `ToolSettings`."""
        tools = getattr(settings, "tools", settings)
        remote = getattr(settings, "remote", None)
        key_env = getattr(remote, "api_key_env", None)
        return cls(
            sandbox=getattr(tools, "sandbox", "auto"),
            network=getattr(tools, "network", True),
            env_allow=tuple(getattr(tools, "env_allow", ()) or ()),
            env_deny=(key_env,) if key_env else (),
        )


_current = ProcessPolicy()


def use_settings(settings: Any) -> ProcessPolicy:
    """Make `settings`' [tools] policy the one every tool process of this process runs under."""
    global _current
    _current = ProcessPolicy.from_settings(settings)
    return _current


def use_policy(policy: ProcessPolicy) -> ProcessPolicy:
    """Install `policy`; returns the one it replaces (tests put it back)."""
    global _current
    old, _current = _current, policy
    return old


def current_policy() -> ProcessPolicy:
    return _current


@dataclass(frozen=True)
class SandboxState:
    """Whether commands run sandboxed under a policy, and why (not)."""

    active: bool
    reason: str


_probes: dict[tuple[str, bool], SandboxState] = {}
_probe_lock = threading.Lock()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_state(policy: ProcessPolicy | None = None) -> SandboxState:
    """Whether run_shell / python run in the sandbox under `policy` (probed once, then cached)."""
    policy = policy or _current
    if policy.sandbox == "off":
        return SandboxState(False, 'turned off ([tools] sandbox = "off")')
    if sys.platform != "linux":
        return SandboxState(False, f"bubblewrap needs Linux (this is {sys.platform})")
    exe = bwrap_path()
    if exe is None:
        return SandboxState(False, "bwrap is not installed (install bubblewrap, e.g. apt install bubblewrap)")
    key = (exe, policy.network)
    with _probe_lock:
        if key not in _probes:
            _probes[key] = _probe(exe, policy.network)
        return _probes[key]


def _probe(exe: str, network: bool) -> SandboxState:
    """Run `/bin/sh -c :` with the flags of a real call; the first line bwrap complains with is the reason."""
    argv = wrap(["/bin/sh", "-c", ":"], Path(tempfile.gettempdir()), network=network, exe=exe)
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT, start_new_session=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxState(False, f"bwrap cannot run here: {exc}")
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return SandboxState(False, "bwrap cannot run here: " + (why[0][:200] if why else f"exit code {done.returncode}"))
    what = "workspace writable, the rest read-only, private /tmp, " + ("network on" if network else "no network")
    return SandboxState(True, f"bubblewrap ({what})")


def forget_probes() -> None:
    """Probe again on the next call (tests; after installing bubblewrap)."""
    with _probe_lock:
        _probes.clear()


def secret_files() -> list[Path]:
    """Credential files hidden (replaced by an empty file) inside the sandbox: the Hugging Face token."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    names = [os.environ.get("HF_TOKEN_PATH"), os.path.join(hf_home, "token"), os.path.expanduser("~/.huggingface/token")]
    return [Path(n).expanduser() for n in dict.fromkeys(n for n in names if n) if os.path.isfile(n)]


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _reexposed() -> list[str]:
    """Directories under /tmp the tools need (this Python, PATH entries): the private /tmp hides them."""
    wanted = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    wanted += os.environ.get("PATH", "").split(os.pathsep)
    out = []
    for d in dict.fromkeys(os.path.realpath(w) for w in wanted if w):
        if _under(d, "/tmp") and os.path.isdir(d):
            out.append(d)
    return out


def wrap(argv: list[str], workspace: Path, *, network: bool = True, files: Iterable[Path] = (), exe: str | None = None) -> list[str]:
    """`argv` run by bwrap: / read-only, `workspace` writable, private /tmp, own PID namespace.

    `files` (e.g. the python tool's code file) are bound read-only at their own paths.
    """
    ws = os.path.realpath(workspace)
    cmd = [exe or bwrap_path() or "bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
    if not network:
        cmd.append("--unshare-net")
    cmd += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    for d in _reexposed():
        cmd += ["--ro-bind", d, d]
    cmd += ["--bind", ws, ws]
    for f in files:
        real = os.path.realpath(f)
        cmd += ["--ro-bind", real, real]
    for secret in secret_files():
        real = os.path.realpath(secret)
        if not _under(real, ws):  # the workspace is the user's to expose
            cmd += ["--ro-bind", "/dev/null", real]
    cmd += ["--setenv", "TMPDIR", "/tmp", "--chdir", ws, "--"]
    return cmd + list(argv)
