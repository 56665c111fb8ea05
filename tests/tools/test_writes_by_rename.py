"""write_file/edit_file write a temporary file in the folder the walk verified (held open by fd) and
rename it over the name: whatever the name or a folder on the way is swapped for after the check,
nothing outside the workspace is written, and the file keeps its permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glmchat.tools import ToolContext, ToolRegistry, UndoLog, Workspace
from glmchat.tools.safe_files import _replace, locate


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("inside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_text("outside\n")
    return Workspace(root)


def test_a_name_swapped_for_a_symlink_after_the_check_is_replaced_not_written_through(ws: Workspace, tmp_path: Path) -> None:
    with locate(ws, "sub/f.txt") as where:
        old = os.stat(where.name, dir_fd=where.dir_fd)
        (ws.root / "sub" / "f.txt").unlink()
        (ws.root / "sub" / "f.txt").symlink_to(tmp_path / "outside" / "f.txt")  # the swap
        _replace(where.dir_fd, where.name, b"new\n", old)
    assert (tmp_path / "outside" / "f.txt").read_text() == "outside\n"
    assert not (ws.root / "sub" / "f.txt").is_symlink() and (ws.root / "sub" / "f.txt").read_text() == "new\n"


def test_a_folder_swapped_for_a_symlink_after_the_walk_is_not_written_through(ws: Workspace, tmp_path: Path) -> None:
    with locate(ws, "sub/f.txt") as where:
        (ws.root / "sub").rename(ws.root / "moved")
        (ws.root / "sub").symlink_to(tmp_path / "outside")  # the swap
        _replace(where.dir_fd, where.name, b"new\n", None)
    assert (tmp_path / "outside" / "f.txt").read_text() == "outside\n"
    assert (ws.root / "moved" / "f.txt").read_text() == "new\n"  # the folder that was verified


def test_writes_keep_permissions_leave_no_temporary_file_and_follow_links_inside(ws: Workspace) -> None:
    f = ws.root / "sub" / "f.txt"
    f.chmod(0o640)
    (ws.root / "alias.txt").symlink_to("sub/f.txt")
    reg, ctx = ToolRegistry.builtin(), ToolContext(ws, undo=UndoLog())
    assert reg.execute("write_file", {"path": "alias.txt", "content": "via link\n"}, ctx).ok
    assert (ws.root / "alias.txt").is_symlink() and f.read_text() == "via link\n"
    assert reg.execute("edit_file", {"path": "sub/f.txt", "old_string": "via", "new_string": "by"}, ctx).ok
    assert f.read_text() == "by link\n" and stat.S_IMODE(f.stat().st_mode) == 0o640
    assert "restored" in ctx.undo.undo() and f.read_text() == "via link\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert sorted(p.name for p in (ws.root / "sub").iterdir()) == ["f.txt"]
