"""Helpers behind /read, /run, /py, /ls, /grep and /diff."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from glmchat.errors import GlmchatError, UsageError
from glmchat.tools import Workspace
from glmchat.tools.direct import (
    MAX_ATTACH_CHARS,
    git_diff,
    grep_text,
    list_path,
    parse_read_spec,
    read_attachment,
    run_command,
    run_python,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "README.md").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    (tmp_path / "odd:3").write_text("a file with a colon\n")
    return Workspace(tmp_path)


def test_read_whole_file_and_ranges(ws: Workspace) -> None:
    assert read_attachment("README.md", ws) == ("README.md", "".join(f"line {i}\n" for i in range(1, 11)))
    assert read_attachment("README.md:2-3", ws) == ("README.md:2-3", "line 2\nline 3\n")
    assert read_attachment("README.md:9-", ws) == ("README.md:9-10", "line 9\nline 10\n")
    assert read_attachment("README.md:4", ws) == ("README.md:4-4", "line 4\n")
    assert read_attachment("README.md:8-99", ws)[0] == "README.md:8-10"
    assert read_attachment("odd:3", ws) == ("odd:3", "a file with a colon\n")  # the file exists: no range


def test_read_errors(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="/read needs a file"):
        read_attachment("  ", ws)
    with pytest.raises(UsageError, match="Bad line range"):
        parse_read_spec("README.md:5-2", ws)
    with pytest.raises(GlmchatError, match="only 10 lines"):
        read_attachment("README.md:11-12", ws)
    with pytest.raises(GlmchatError, match="No such file: nope.md"):
        read_attachment("nope.md", ws)
    with pytest.raises(GlmchatError, match="outside the workspace"):
        read_attachment("../../etc/passwd", ws)
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(GlmchatError, match="binary file"):
        read_attachment("bin.dat", ws)
    (tmp_path / "huge.txt").write_text(("w" * 99 + "\n") * (MAX_ATTACH_CHARS // 100 + 10))
    with pytest.raises(GlmchatError, match="too long to attach whole") as info:
        read_attachment("huge.txt", ws)
    assert "/read huge.txt:1-400" in info.value.hint
    assert read_attachment("huge.txt:1-400", ws)[1].count("\n") == 400


@pytest.mark.slow
def test_run_command_and_python(ws: Workspace) -> None:
    r = run_command("ls", ws)
    assert r.ok and "README.md" in r.output
    r = run_command("exit 4", ws)
    assert not r.ok and r.meta["exit_code"] == 4
    with pytest.raises(UsageError):
        run_command("", ws)
    r = run_python("print(sum(range(5)))", ws)
    assert r.ok and r.output.endswith("10")
    with pytest.raises(UsageError):
        run_python(" ", ws)


@pytest.mark.slow
def test_run_command_cancel(ws: Workspace) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    r = run_command("sleep 20", ws, cancel)
    assert not r.ok and r.meta["cancelled"] and time.monotonic() - t0 < 5


def test_list_and_grep(ws: Workspace) -> None:
    assert list_path(None, ws).splitlines()[0] == "./ (0 directories, 2 files)"
    assert grep_text(r"line 1\d?$", None, ws).splitlines() == ["README.md:1: line 1", "README.md:10: line 10"]
    with pytest.raises(UsageError):
        grep_text("", None, ws)
    with pytest.raises(GlmchatError, match="Bad regular expression"):
        grep_text("[", None, ws)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_diff(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(GlmchatError, match="not inside a git repository"):
        git_diff(ws)

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("add", "README.md")
    git("commit", "-q", "-m", "init")
    with pytest.raises(GlmchatError, match="No changes"):
        git_diff(ws)
    (tmp_path / "README.md").write_text("changed\n")
    out = git_diff(ws)
    assert out.startswith("diff --git a/README.md b/README.md") and "+changed" in out and "-line 1" in out
    git("add", "README.md")
    (tmp_path / "README.md").write_text("changed twice\n")
    out = git_diff(ws)
    assert "# unstaged changes" in out and "# staged changes" in out and "+changed twice" in out


def test_read_missing_file_or_directory_hints_at_slash_commands(tmp_path):
    from glmchat.errors import GlmchatError
    from glmchat.tools import Workspace
    from glmchat.tools.direct import read_attachment

    (tmp_path / "src").mkdir()
    ws = Workspace(tmp_path)
    with pytest.raises(GlmchatError) as err:
        read_attachment("nope.md", ws)
    assert "No such file: nope.md" in err.value.message
    assert "/ls" in err.value.hint and "list_dir" not in err.value.hint
    with pytest.raises(GlmchatError) as err:
        read_attachment("src:1-3", ws)
    assert "is a directory" in err.value.message and "/ls src" in err.value.hint
