"""Running direct workspace commands (/run, /py, /ls, /grep) off the UI thread, and attachments.

The work is done by `glmchat.tools.direct`; each command's output shows in an `OutputBlock` with an
"attach" button. Esc sets the running command's cancel event (the runner then kills the whole
process group). Attachments go to the session's pending attachments and are named in the chip bar
above the input until the next message takes them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from glmchat.errors import GlmchatError
from glmchat.tools.base import ToolResult
from glmchat.tui.widgets.attachment_bar import describe_attachment
from glmchat.tui.widgets.output_block import OutputBlock

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


def result_status(result: Any) -> tuple[str, bool, str | None, dict]:
    """(text, ok, head line, meta) for a ToolResult or a plain string."""
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


class DirectRunner:
    """One chat screen's direct commands: at most one cancellable command at a time."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.cancel_event: threading.Event | None = None  # set by Esc while a /run or /py runs

    def workspace(self) -> Any:
        options = self.screen.options
        if options.workspace is None:
            from glmchat.tools import Workspace

            options.workspace = Workspace()
        return options.workspace

    async def attach(self, label: str, text: str) -> None:
        """Attach `text` to the next message and say so (while the model loads too: it waits)."""
        self.screen.attachments.add(label, text)
        self.screen.show_attachments()
        await self.screen.show_notice(f"📎 Attached {describe_attachment(label, text)} to your next message.")

    async def start(self, title: str, job: Callable[[threading.Event], Any], *, cancellable: bool = False) -> OutputBlock:
        """Show an OutputBlock and run `job(cancel)` in a thread; the block gets the result."""
        if cancellable and self.cancel_event is not None:
            raise GlmchatError("A command is still running.", "Wait for it, or press Esc to stop it.")
        block = OutputBlock(title, title)
        await self.screen.chat.add(block)
        cancel = threading.Event()
        if cancellable:
            self.cancel_event = cancel
            self.screen.status.update_info(state="running a command (Esc stops it)")
        self.screen.run_worker(lambda: self._work(block, job, cancel, cancellable), thread=True, group="direct")
        return block

    def _work(self, block: OutputBlock, job: Callable[[threading.Event], Any], cancel: threading.Event, cancellable: bool) -> None:
        try:
            result: Any = job(cancel)
        except GlmchatError as exc:
            result = exc
        except Exception as exc:  # never a traceback on screen
            result = GlmchatError(f"The command failed: {exc}.", "Check the command (/help).")
        try:
            self.screen.app.call_from_thread(self._done, block, result, cancel if cancellable else None)
        except RuntimeError:  # the app is gone
            pass

    async def _done(self, block: OutputBlock, result: Any, cancel: threading.Event | None) -> None:
        screen = self.screen
        if cancel is not None and self.cancel_event is cancel:
            self.cancel_event = None
            if screen.alive():
                screen.status.update_info(state="generating" if screen.generating else "ready")
        if not screen.alive():
            return
        if isinstance(result, GlmchatError):
            block.attachable = False
            block.set_output(result.message + (f"\n{result.hint}" if result.hint else ""), False, "failed")
        else:
            text, ok, head, meta = result_status(result)
            block.set_output(text, ok, head, meta)
        screen.chat.keep_up()

    def cancel(self) -> bool:
        """Esc: stop the running cancellable command (/run, /py, /grep). True when there was one."""
        if self.cancel_event is not None and not self.cancel_event.is_set():
            self.cancel_event.set()
            self.screen.status.update_info(state="stopping the command")
            return True
        return False
