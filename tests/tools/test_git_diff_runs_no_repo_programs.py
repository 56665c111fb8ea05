"""The attack: a repository whose own configuration names programs for diffs. `/diff` runs git in a
workspace glmchat did not make; before issue 14 git ran the repository's `diff.external` program
(and textconv filters from .gitattributes, and an fsmonitor hook). Now it asks for git's built-in
diff only: none of them runs, and the diff is the plain one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from glmchat.tools import Workspace
from glmchat.tools.direct import git_diff

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=root, check=True, capture_output=True)


def test_diff_runs_no_program_the_repository_names(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    ran = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{ran}'\necho INJECTED\n")
    hook.chmod(0o755)
    (root / "notes.txt").write_text("one\n")
    (root / "data.bin").write_text("two\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    git(root, "config", "diff.external", str(hook))
    git(root, "config", "diff.conv.textconv", str(hook))
    git(root, "config", "core.fsmonitor", str(hook))
    (root / ".gitattributes").write_text("*.bin diff=conv\n")
    (root / "notes.txt").write_text("one\nchanged\n")
    (root / "data.bin").write_text("two\nchanged\n")
    out = git_diff(Workspace(root))
    assert not ran.exists(), ran.read_text()
    assert "INJECTED" not in out
    assert "+changed" in out and "diff --git a/notes.txt b/notes.txt" in out and "diff --git a/data.bin b/data.bin" in out
