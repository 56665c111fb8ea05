"""The direct tool slash commands of the TUI: /read, /run, /py, /ls, /grep, /diff, /attach, /tools, /undo.

A mixin for `GlmchatApp`. The work is done by `glmchat.tools.direct`; commands that run something
(/run, /py) or may take a while (/ls, /grep, /diff) run in a thread worker so the UI stays live, and
Esc sets the command's cancel event (the runner then kills the whole process group). Output shows
in an `OutputBlock` with an "attach" button; attachments go to `session.pending_attachments` and
are named in the chip bar above the input until the next message takes them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from textual import work

from glmchat.errors import GlmchatError, UsageError
from glmchat.tui.widgets.chat import AttachRequested, OutputBlock
from glmchat.tui.widgets.prompt import AttachmentBar, describe_attachment


def _status_of(result: Any) -> tuple[str, bool, str | None, dict]:
    """(text, ok, head line, meta) for a ToolResult or a plain string."""
    from glmchat.tools import ToolResult

    if isinstance(result, ToolResult):
        meta = dict(result.meta or {})
        if meta.get("cancelled"):
            head = "stopped (Esc): its processes were killed"
        elif meta.get("timed_out"):
            head = "timed out: its processes were killed"
        else:
            head = None if "exit_code" in meta else ("ok" if result.ok else "failed")  # the output names the exit code
        return result.output, result.ok, head, meta
    return str(result), True, None, {}


class DirectCommands:
    """Slash-command handlers for direct tool use (mixed into GlmchatApp)."""

    direct_cancel: threading.Event | None = None  # set by Esc while a /run or /py runs

    # ---- helpers ---------------------------------------------------------------------------------

    def _workspace(self) -> Any:
        if self.workspace is None:
            from glmchat.tools import Workspace

            self.workspace = Workspace()
        return self.workspace

    def _undo_log(self, session: Any) -> Any:
        """The session's UndoLog, created here when no tool has run yet (so /undo and tools share it)."""
        if session.undo_log is None:
            from glmchat.tools import UndoLog

            session.undo_log = UndoLog()
        return session.undo_log

    def show_attachments(self) -> None:
        """Refresh the chip bar from the session's pending attachments."""
        pending = list(self.session.pending_attachments) if self.session is not None else []
        self.query_one("#attachments", AttachmentBar).show(pending)

    async def attach(self, label: str, text: str) -> None:
        """Attach `text` to the next message and say so."""
        session = self._need_session()
        session.pending_attachments.append((label, text))
        self.show_attachments()
        await self.show_notice(f"📎 Attached {describe_attachment(label, text)} to your next message.")

    async def on_attach_requested(self, event: AttachRequested) -> None:  # (a mixin: @on is not seen here)
        event.stop()
        try:
            await self.attach(event.label, event.text)
        except GlmchatError as exc:
            await self.show_error(exc.message, exc.hint)

    async def _start_direct(self, title: str, label: str, job: Callable[[threading.Event], Any], *, cancellable: bool = False) -> OutputBlock:
        """Show an OutputBlock and run `job(cancel)` in a thread; the block gets the result."""
        if cancellable and self.direct_cancel is not None:
            raise GlmchatError("A command is still running.", "Wait for it, or press Esc to stop it.")
        block = OutputBlock(title, label)
        await self.chat.add(block)
        cancel = threading.Event()
        if cancellable:
            self.direct_cancel = cancel
            self.status.update_info(state="running a command (Esc stops it)")
        self._direct_worker(block, job, cancel, cancellable)
        return block

    @work(thread=True, group="direct")
    def _direct_worker(self, block: OutputBlock, job: Callable[[threading.Event], Any], cancel: threading.Event, cancellable: bool) -> None:
        try:
            result: Any = job(cancel)
        except GlmchatError as exc:
            result = exc
        except Exception as exc:  # never a traceback on screen
            result = GlmchatError(f"The command failed: {exc}.", "Check the command (/help).")
        try:
            self.call_from_thread(self._direct_done, block, result, cancel if cancellable else None)
        except RuntimeError:  # the app is gone
            pass

    async def _direct_done(self, block: OutputBlock, result: Any, cancel: threading.Event | None) -> None:
        if cancel is not None and self.direct_cancel is cancel:
            self.direct_cancel = None
            if self._alive():
                self.status.update_info(state="generating" if self.generating else "ready")
        if not self._alive():
            return
        if isinstance(result, GlmchatError):
            block.attachable = False
            block.set_output(result.message + (f"\n{result.hint}" if result.hint else ""), False, "failed")
        else:
            text, ok, head, meta = _status_of(result)
            block.set_output(text, ok, head, meta)
        self.chat.keep_up()

    def cancel_direct(self) -> bool:
        """Esc: stop a running /run or /py. True when there was one."""
        if self.direct_cancel is not None and not self.direct_cancel.is_set():
            self.direct_cancel.set()
            self.status.update_info(state="stopping the command")
            return True
        return False

    # ---- the commands ------------------------------------------------------------------------------

    async def slash_read(self, raw: str, args: list[str]) -> None:
        from glmchat.tools.direct import read_attachment

        self._need_session()
        if not raw:
            raise UsageError("/read needs a path.", "Example: /read src/main.py:10-40")
        label, text = await self._in_thread(lambda: read_attachment(raw, self._workspace()))
        await self.attach(label, text)

    async def slash_run(self, raw: str, args: list[str]) -> None:
        from glmchat.tools.direct import run_command

        if not raw:
            raise UsageError("/run needs a command.", "Example: /run ls -la")
        ws = self._workspace()
        await self._start_direct(f"$ {raw}", f"$ {raw}", lambda cancel: run_command(raw, ws, cancel), cancellable=True)

    async def slash_py(self, raw: str, args: list[str]) -> None:
        from glmchat.tools.direct import run_python

        if not raw:
            raise UsageError("/py needs code.", "Example: /py print(2**10)")
        ws = self._workspace()
        first = raw.strip().splitlines()[0]
        await self._start_direct(f"python: {first[:60]}", f"python: {first[:60]}", lambda cancel: run_python(raw, ws, cancel), cancellable=True)

    async def slash_ls(self, raw: str, args: list[str]) -> None:
        from glmchat.tools.direct import list_path

        path = args[0] if args else None
        ws = self._workspace()
        await self._start_direct(f"ls {path or '.'}", f"ls {path or '.'}", lambda cancel: list_path(path, ws))

    async def slash_grep(self, raw: str, args: list[str]) -> None:
        import shlex

        from glmchat.tools.direct import grep_text

        if not raw:
            raise UsageError("/grep needs a pattern.", "Example: /grep 'def main' src")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = raw.split()
        pattern = words[0] if words else ""
        path = words[1] if len(words) > 1 else None
        ws = self._workspace()
        title = f"grep {pattern!r} {path or '.'}"
        await self._start_direct(title, title, lambda cancel: grep_text(pattern, path, ws))

    async def slash_diff(self, raw: str, args: list[str]) -> None:
        from glmchat.tools.direct import git_diff

        self._need_session()
        ws = self._workspace()
        text = await self._in_thread(lambda: git_diff(ws))
        await self.attach("git diff", text)

    async def slash_attach(self, raw: str, args: list[str]) -> None:
        blocks = [b for b in self.chat.query(OutputBlock) if not b.running and b.attachable and b.output.strip()]
        if not blocks:
            raise GlmchatError("There is no command output to attach.", "Run one first: /run CMD, /py CODE, /ls or /grep.")
        block = blocks[-1]
        if block.attached:
            raise GlmchatError(f"The output of {block.label} is already attached.", "Send a message to use it.")
        block.action_attach()

    async def slash_tools(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        if session.tools is None:
            from glmchat.tools import ToolRegistry

            session.tools = self.tools = ToolRegistry.builtin()
        what = args[0].lower() if args else "list"
        if what == "on":
            session.tools_enabled = self.tools_enabled = True
            self._undo_log(session)
            await self.show_notice("Tools on: the model may read files and, after asking you, write files and run commands.")
        elif what == "off":
            session.tools_enabled = self.tools_enabled = False
            await self.show_notice("Tools off: the model answers without calling tools.")
        elif what == "list":
            lines = []
            for name in session.tools.names():
                tool = session.tools.get(name)
                desc = (tool.description or "").strip().splitlines()[0] if tool and tool.description else ""
                lines.append(f"  {name} ({tool.risk if tool else '?'}): {desc}")
            state = "on" if session.tools_enabled else "off (/tools on lets the model call them)"
            await self.show_notice(f"Tools are {state}.\n" + "\n".join(lines))
        else:
            raise UsageError(f"/tools does not know {what!r}.", "Use /tools on, /tools off or /tools list.")
        self._update_session_status()
        self._refresh_context()

    async def slash_undo(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        message = await self._in_thread(lambda: self._undo_log(session).undo())
        await self.show_notice(str(message))
