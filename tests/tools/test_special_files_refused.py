"""The attack: a FIFO (or a socket) in the workspace, read, written, previewed and undone through every path.

Opening a FIFO to read blocks until a writer comes, so before issue 14 each of these hung forever
(and with it the TUI). Now every path opens with O_NONBLOCK and checks fstat: the FIFO is refused
with one line naming it, in well under a second. Each call runs on a daemon thread
(tests/fifo_support.py) so that a regression fails the test instead of hanging the run.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from glmchat.errors import GlmchatError
from glmchat.tools import ToolContext, ToolRegistry, UndoLog, Workspace
from glmchat.tools.direct import grep_text, read_attachment
from glmchat.tools.policy import preview
from tests.fifo_support import call_within

LIMIT = 1.0  # seconds a refusal may take


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n")
    os.mkfifo(root / "pipe")
    return Workspace(root)


def refused(value: Any, *words: str) -> str:
    """The text of a refusal: a ToolResult error or a GlmchatError, one line naming the file kind."""
    text = value.error if hasattr(value, "error") and not isinstance(value, BaseException) else None
    if isinstance(value, GlmchatError):
        text = value.message
    assert text, value
    assert "\n" not in text
    for w in words:
        assert w in text, (w, text)
    return text


@pytest.mark.parametrize(
    "name, args",
    [
        ("read_file", {"path": "pipe"}),
        ("edit_file", {"path": "pipe", "old_string": "a", "new_string": "b"}),
        ("write_file", {"path": "pipe", "content": "x"}),
    ],
)
def test_file_tools_refuse_a_fifo_at_once(ws: Workspace, name: str, args: dict) -> None:
    reg = ToolRegistry.builtin()
    result = call_within(lambda: reg.execute(name, args, ToolContext(ws, undo=UndoLog())), ws.root, LIMIT)
    assert not result.ok
    refused(result, "pipe", "FIFO", "not a regular file")
    assert (ws.root / "pipe").is_fifo()  # write_file did not replace it either


def test_slash_read_refuses_a_fifo_at_once(ws: Workspace) -> None:
    err = call_within(lambda: read_attachment("pipe", ws), ws.root, LIMIT)
    refused(err, "pipe", "FIFO")
    err = call_within(lambda: read_attachment("pipe:1-3", ws), ws.root, LIMIT)
    refused(err, "pipe", "FIFO")


@pytest.mark.parametrize("name, args", [
    ("write_file", {"path": "pipe", "content": "x"}),
    ("edit_file", {"path": "pipe", "old_string": "a", "new_string": "b"}),
])
def test_the_approval_preview_of_a_fifo_says_why_at_once(ws: Workspace, name: str, args: dict) -> None:
    tool = ToolRegistry.builtin().get(name)
    text = call_within(lambda: preview(tool, args, ws), ws.root, LIMIT)
    assert text.startswith(f"({name} would fail: ") and "FIFO" in text


def test_undo_refuses_a_file_replaced_by_a_fifo(ws: Workspace) -> None:
    ctx = ToolContext(ws, undo=UndoLog())
    assert ToolRegistry.builtin().execute("write_file", {"path": "notes.txt", "content": "changed\n"}, ctx).ok
    (ws.root / "notes.txt").unlink()
    os.mkfifo(ws.root / "notes.txt")
    err = call_within(lambda: ctx.undo.undo(force=True), ws.root, LIMIT)
    refused(err, "notes.txt", "FIFO")
    assert (ws.root / "notes.txt").is_fifo() and len(ctx.undo) == 1


def test_grep_skips_fifos_in_the_tree_and_refuses_one_named(ws: Workspace) -> None:
    out = call_within(lambda: grep_text("hello", None, ws), ws.root, LIMIT)
    assert out == "notes.txt:1: hello"
    err = call_within(lambda: grep_text("hello", "pipe", ws), ws.root, LIMIT)
    refused(err, "pipe", "FIFO")


def test_a_socket_is_refused_too(ws: Workspace) -> None:
    sock = socket.socket(socket.AF_UNIX)
    path = ws.root / "s.sock"
    if len(os.fsencode(path)) > 100:
        pytest.skip("temp path too long for a unix socket")
    sock.bind(str(path))
    try:
        reg = ToolRegistry.builtin()
        result = call_within(lambda: reg.execute("read_file", {"path": "s.sock"}, ToolContext(ws)), ws.root, LIMIT)
        refused(result, "s.sock is a socket, not a regular file")
        result = call_within(lambda: reg.execute("write_file", {"path": "s.sock", "content": "x"}, ToolContext(ws)), ws.root, LIMIT)
        refused(result, "s.sock is a socket, not a regular file")
    finally:
        sock.close()
