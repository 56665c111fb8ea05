"""The bubblewrap sandbox: the command it builds, the probe and its clean fallback, and (where bwrap
works here) what a sandboxed command can and cannot touch."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from glmchat.tools import ToolContext, ToolRegistry, Workspace
from glmchat.tools import sandbox
from glmchat.tools.sandbox import ProcessPolicy, sandbox_state, use_policy, wrap

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux-only")


def after(argv: list[str], *flags: str) -> int:
    """Index of the first place `flags` appear in a row in argv (ValueError when they don't)."""
    for i in range(len(argv) - len(flags) + 1):
        if argv[i : i + len(flags)] == list(flags):
            return i
    raise ValueError(flags)


def test_the_command_makes_everything_read_only_but_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    code = tmp_path / "code.py"
    code.write_text("print(1)")
    argv = wrap(["/bin/sh", "-c", "ls"], ws, files=[code], exe="/usr/bin/bwrap")
    assert argv[0] == "/usr/bin/bwrap" and argv[-4:] == ["--", "/bin/sh", "-c", "ls"]
    assert "--unshare-pid" in argv and "--die-with-parent" in argv and "--unshare-net" not in argv
    root, tmp = after(argv, "--ro-bind", "/", "/"), after(argv, "--tmpfs", "/tmp")
    real = str(ws.resolve())
    # later mounts win: / read-only, then a private /tmp, then the workspace writable and the code file
    assert root < tmp < after(argv, "--bind", real, real) < after(argv, "--ro-bind", str(code.resolve()), str(code.resolve()))
    assert after(argv, "--chdir", real) and after(argv, "--setenv", "TMPDIR", "/tmp")
    assert "--unshare-net" in wrap(["true"], ws, network=False, exe="bwrap")


def test_the_hub_token_file_is_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "token").write_text("hf_secret")
    monkeypatch.setenv("HF_HOME", str(hf))
    argv = wrap(["true"], tmp_path / "ws", exe="bwrap")
    tok = str((hf / "token").resolve())
    assert after(argv, "--ro-bind", "/dev/null", tok)


def test_off_means_off_without_probing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_probe", lambda *a: pytest.fail("probed although the sandbox is off"))
    state = sandbox_state(ProcessPolicy(sandbox="off"))
    assert not state.active and 'sandbox = "off"' in state.reason


def test_a_missing_bwrap_is_reported_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    state = sandbox_state(ProcessPolicy())
    assert not state.active and "bwrap is not installed" in state.reason and "bubblewrap" in state.reason


@pytest.fixture
def broken_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bwrap that fails the way it does in containers without user namespaces; counts its runs."""
    runs = tmp_path / "runs"
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho run >> {runs}\necho 'bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(fake))
    sandbox.forget_probes()
    yield runs
    sandbox.forget_probes()


@pytest.mark.slow
def test_a_bwrap_that_cannot_run_here_falls_back_cleanly_and_is_probed_once(broken_bwrap: Path, tmp_path: Path) -> None:
    old = use_policy(ProcessPolicy())
    try:
        reg, ctx = ToolRegistry.builtin(), ToolContext(Workspace(tmp_path))
        for _ in range(3):
            r = reg.execute("run_shell", {"command": "echo unconfined"}, ctx)
            assert r.ok and "unconfined" in r.output and r.meta["sandboxed"] is False
        state = sandbox_state()
        assert not state.active and "No permissions to creating new namespace" in state.reason
        assert broken_bwrap.read_text().count("run") == 1  # probed once, then cached
        # no network was asked for and none can be guaranteed: refused, saying why and what to do
        use_policy(ProcessPolicy(network=False))
        r = reg.execute("run_shell", {"command": "echo should-not-run"}, ctx)
        assert not r.ok and "should-not-run" not in r.for_model()
        assert "network = false needs the sandbox" in r.error and "No permissions" in r.error
    finally:
        use_policy(old)


@pytest.fixture
def in_sandbox(tmp_path: Path):
    if not sandbox_state(ProcessPolicy()).active:
        pytest.skip(f"sandbox code path not exercised here: {sandbox_state(ProcessPolicy()).reason}")
    old = use_policy(ProcessPolicy())
    ws = tmp_path / "ws"
    ws.mkdir()
    yield Workspace(ws)
    use_policy(old)


@pytest.mark.slow
def test_a_sandboxed_command_writes_only_in_the_workspace(in_sandbox: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"  # next to the workspace, in the host's /tmp
    outside.write_text("original")
    cmd = (
        f"echo mine > made-here.txt; cat {outside} 2>/dev/null || echo outside-invisible; echo pwned > {outside}; "
        "echo scratch > /tmp/scratch && echo tmp-writable; "
        # access(W_OK) answers EROFS on a read-only mount, even for root: nothing outside is written to find out
        f"for d in /usr /etc \"$HOME\" {sys.prefix}; do test -w \"$d\" && echo \"writable $d\"; done; echo checked"
    )
    r = ToolRegistry.builtin().execute("run_shell", {"command": cmd}, ToolContext(in_sandbox))
    assert r.ok and r.meta["sandboxed"] is True
    assert "outside-invisible" in r.output and "tmp-writable" in r.output and "checked" in r.output, r.output
    assert "writable" not in r.output.replace("tmp-writable", ""), r.output
    assert (in_sandbox.root / "made-here.txt").read_text() == "mine\n"
    assert outside.read_text() == "original"  # the write went to the sandbox's private /tmp
    assert not Path("/tmp/scratch").exists() or Path("/tmp/scratch").read_text() != "scratch\n"


@pytest.mark.slow
def test_network_false_leaves_only_loopback(in_sandbox: Workspace) -> None:
    use_policy(ProcessPolicy(network=False))
    if not sandbox_state().active:
        pytest.skip(f"no network namespace here: {sandbox_state().reason}")
    r = ToolRegistry.builtin().execute("python", {"code": "print(open('/proc/net/dev').read())"}, ToolContext(in_sandbox))
    assert r.ok and r.meta["sandboxed"] is True
    table = r.output.split("--- stdout ---\n", 1)[1]
    interfaces = [line.split(":")[0].strip() for line in table.splitlines() if ":" in line and "|" not in line]
    assert interfaces == ["lo"], r.output


@pytest.mark.slow
def test_the_hub_token_file_reads_empty_in_the_sandbox(in_sandbox: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "token").write_text("hf_secret_in_file")
    monkeypatch.setenv("HF_HOME", str(hf))
    r = ToolRegistry.builtin().execute("run_shell", {"command": 'cat "$HF_HOME/token"; echo end'}, ToolContext(in_sandbox))
    assert r.ok and "hf_secret_in_file" not in r.output and "end" in r.output
