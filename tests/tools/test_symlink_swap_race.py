"""The attack: swap a path between something inside the workspace and a symlink out, while the tools run.

A thread flips `target` between a regular file inside and a symlink to a file outside, and `sub`
between a symlink to a folder inside and one to a folder outside, as fast as it can, while
read_file, write_file, edit_file, grep and list_dir run in a loop on those paths. Before issue 14
(check the path, then open it by name) reads returned the outside file and write_file overwrote it.
Now every open walks from the root by directory fd with O_NOFOLLOW and writes go through a rename
in the verified folder: nothing outside is ever read, listed or written, however the race falls.

The race runs GLMCHAT_RACE_SECONDS seconds (2 by default in the fast loop; 10 for the full length
the issue asks: `GLMCHAT_RACE_SECONDS=10 pytest tests/tools/test_symlink_swap_race.py`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from glmchat.tools import ToolContext, ToolRegistry, UndoLog, Workspace

RACE_SECONDS = float(os.environ.get("GLMCHAT_RACE_SECONDS", "2"))
SECRET = "OUTSIDE-SECRET"


def _replace_with_symlink(target: str, where: Path) -> None:
    tmp = where.with_name(where.name + ".flip")
    try:
        os.symlink(target, tmp)
        os.replace(tmp, where)
    except OSError:
        pass


def _replace_with_file(text: str, where: Path) -> None:
    tmp = where.with_name(where.name + ".flipf")
    try:
        tmp.write_text(text)
        os.replace(tmp, where)
    except OSError:
        pass


def test_a_symlink_swap_race_never_reads_lists_or_writes_outside(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "real_sub").mkdir(parents=True)
    (root / "real_sub" / "f.txt").write_text("inside sub\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(SECRET + "\n")
    (outside / "f.txt").write_text(SECRET + " in f\n")
    (outside / "only_outside.txt").write_text(SECRET + " listed\n")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    (root / "target").write_text("inside\n")
    os.symlink("real_sub", root / "sub")
    ws = Workspace(root)

    stop = threading.Event()

    def flipper() -> None:
        while not stop.is_set():
            _replace_with_file("inside\n", root / "target")
            _replace_with_symlink(str(secret), root / "target")
            _replace_with_symlink("real_sub", root / "sub")
            _replace_with_symlink(str(outside), root / "sub")

    reg = ToolRegistry.builtin()
    ctx = ToolContext(ws, undo=UndoLog())
    calls = [
        ("read_file", {"path": "target"}),
        ("write_file", {"path": "target", "content": "written\n"}),
        ("edit_file", {"path": "target", "old_string": "inside", "new_string": "edited"}),
        ("read_file", {"path": "sub/f.txt"}),
        ("write_file", {"path": "sub/f.txt", "content": "written in sub\n"}),
        ("write_file", {"path": "sub/new.txt", "content": "new in sub\n"}),
        ("list_dir", {"path": "sub"}),
        ("grep", {"pattern": "SECRET|inside|written", "path": "sub"}),
    ]
    ok = refused = 0
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # let the flipper run between any two steps of a call
    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + RACE_SECONDS
        while time.monotonic() < deadline:
            for name, args in calls:
                result = reg.execute(name, args, ctx)
                seen = result.output + (result.error or "") + (result.diff or "")
                assert SECRET not in seen, (name, args, seen)
                assert "only_outside" not in seen, (name, args, seen)
                ok += result.ok
                refused += not result.ok
    finally:
        stop.set()
        thread.join(5)
        sys.setswitchinterval(old_interval)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before  # nothing written, made or removed outside
    assert ok and refused  # the race really fell both ways
