"""read_file and write_file through the editor (`fs/read_text_file`, `fs/write_text_file`), when it offers them.

An editor that says `fs.readTextFile` / `fs.writeTextFile` in initialize gets these requests instead of
glmchat touching the disk, so the model reads unsaved buffers and the editor sees each write. Only paths
inside the session's workspace go to the editor (the workspace check runs first, as for the built-in
tools); the tools keep their names, schemas and risk, so approval is the same. The tools run on the
session's worker thread: each request is sent on the agent's asyncio loop and awaited with a timeout.
A read the editor fails falls back to the disk; a write it fails is an error (never written behind it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from glmchat.tools.base import Tool, ToolContext, ToolResult
from glmchat.tools.builtin import MAX_READ_BYTES, numbered_lines, plan_write
from glmchat.tools.workspace import ToolError

REQUEST_TIMEOUT = 30.0  # seconds the editor may take to answer one fs request


@dataclass
class ClientFiles:
    """The editor's file system for one session: its connection, the agent's loop, what it offers."""

    conn: Any
    loop: asyncio.AbstractEventLoop
    session_id: str
    can_read: bool
    can_write: bool
    timeout: float = REQUEST_TIMEOUT

    def _ask(self, coro: Any, what: str) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise ToolError(f"The editor did not answer {what} within {self.timeout:.0f} s.", "Try again.") from None
        except Exception as exc:  # noqa: BLE001 - the editor's error, told to the model
            raise ToolError(f"The editor could not {what}: {exc}", None) from None

    def read(self, path: str) -> str:
        answer = self._ask(self.conn.read_text_file(session_id=self.session_id, path=path), f"read {path}")
        return answer.content

    def write(self, path: str, content: str) -> None:
        self._ask(self.conn.write_text_file(session_id=self.session_id, path=path, content=content), f"write {path}")


def offered(client_capabilities: Any) -> tuple[bool, bool]:
    """(read, write): what the client's initialize offered."""
    fs = getattr(client_capabilities, "fs", None)
    return bool(getattr(fs, "read_text_file", False)), bool(getattr(fs, "write_text_file", False))


def install(registry: Any, files: ClientFiles) -> None:
    """Replace the registry's read_file / write_file with ones that go through the editor, as offered."""
    read, write = registry.get("read_file"), registry.get("write_file")
    if files.can_read and read is not None:
        registry.register(replace(read, run=_reader(files, read)))
    if files.can_write and write is not None:
        registry.register(replace(write, run=_writer(files)))


def _reader(files: ClientFiles, on_disk: Tool) -> Any:
    def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        p = ctx.workspace.resolve(args["path"])  # outside the workspace: refused, never asked for
        try:
            text = files.read(str(p))
        except ToolError:
            return on_disk.run(args, ctx)  # the editor failed (no such file, …): the disk says why
        if len(text.encode("utf-8", "replace")) > MAX_READ_BYTES:
            raise ToolError(f"{ctx.workspace.display(p)} is too big to read.", "Search it with grep.")
        rel = ctx.workspace.display(p)
        out = numbered_lines(text, rel, args.get("start_line"), args.get("end_line"))
        return ToolResult(out, ok=True, meta={"path": rel, "lines": len(text.splitlines()), "via": "editor"})

    return run


def _writer(files: ClientFiles) -> Any:
    def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        content: str = args["content"]
        p, old_bytes, diff = plan_write(ctx.workspace, args["path"], content)  # the workspace checks
        rel = ctx.workspace.display(p)
        data = content.encode("utf-8")
        if old_bytes == data:
            return ToolResult(f"No change: {rel} already has this content.", ok=True, meta={"path": rel})
        files.write(str(p), content)
        ctx.undo.record(p, old_bytes, data, "write_file", workspace=ctx.workspace)
        n = len(content.splitlines())
        return ToolResult(f"Wrote {rel} ({n} line{'s' if n != 1 else ''}) in the editor.", ok=True, diff=diff,
                          meta={"path": rel, "created": old_bytes is None, "via": "editor"})

    return run
