"""FileHistory: changes tagged by turn, restored newest first, kept on disk, forgotten once rewound."""

from __future__ import annotations

from glmchat.tools import safe_files
from glmchat.tools.file_history import FileHistory, digest
from glmchat.tools.workspace import Workspace


def change(history: FileHistory, ws: Workspace, turn: int, name: str, content: bytes) -> None:
    """What write_file does: write through safe_files and record the before-image."""
    previous = safe_files.read_bytes_or_none(ws, name)
    path, created = safe_files.write_atomic(ws, name, content)
    history.record(turn, path, previous, digest(content), "write_file", created, ws)


def test_several_changes_of_one_file_go_back_to_before_the_first_of_the_span(tmp_path):
    ws = Workspace(tmp_path)
    h = FileHistory(None)
    change(h, ws, 1, "a.txt", b"one")
    change(h, ws, 2, "a.txt", b"two")
    change(h, ws, 3, "a.txt", b"three")
    change(h, ws, 3, "sub/dir/b.txt", b"new")
    report = h.restore_since(2)
    assert (tmp_path / "a.txt").read_bytes() == b"one"
    assert not (tmp_path / "sub").exists()  # the folders the tool made went with the file
    assert report.restored == [str(tmp_path / "sub/dir/b.txt"), str(tmp_path / "a.txt")]  # newest first
    assert [c.turn for c in h.changes] == [1]  # the rewound changes are forgotten


def test_a_file_undone_already_counts_as_restored(tmp_path):
    ws = Workspace(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"before")
    h = FileHistory(None)
    change(h, ws, 5, "a.txt", b"after")
    (tmp_path / "a.txt").write_bytes(b"before")  # /undo put it back
    report = h.restore_since(5)
    assert report.restored == [str(tmp_path / "a.txt")] and not report.skipped


def test_the_index_and_snapshots_are_read_again_and_pruned(tmp_path):
    ws_root = tmp_path / "ws"
    ws_root.mkdir()
    ws = Workspace(ws_root)
    (ws_root / "a.txt").write_bytes(b"v0")
    folder = tmp_path / "hist"
    h = FileHistory(folder)
    change(h, ws, 1, "a.txt", b"v1")
    change(h, ws, 2, "a.txt", b"v2")
    assert len(list((folder / "snapshots").iterdir())) == 2
    again = FileHistory(folder)
    assert [c.turn for c in again.changes] == [1, 2] and again.files_since(2) == [str(ws_root / "a.txt")]
    report = again.restore_since(2)
    assert (ws_root / "a.txt").read_bytes() == b"v1" and report.restored
    assert [p.name for p in (folder / "snapshots").iterdir()] == [digest(b"v0")]  # v1's snapshot went
    assert [c.turn for c in FileHistory(folder).changes] == [1]


def test_forget_since_retags_the_changes_to_the_turn_kept(tmp_path):
    ws = Workspace(tmp_path)
    h = FileHistory(None)
    change(h, ws, 1, "a.txt", b"one")
    change(h, ws, 4, "b.txt", b"two")
    h.forget_since(4, retag=1)
    assert [c.turn for c in h.changes] == [1, 1] and len(h.files_since(1)) == 2
    h.forget_since(1, retag=None)
    assert h.changes == []
