"""The output of a direct command (/run, /py, /ls, /grep), with an attach button."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Static

from glmchat.terminal_text import visible
from glmchat.tui.widgets.messages import AttachRequested, Copy


class OutputBlock(Vertical, can_focus=True):
    """The output of a direct command (/run, /py, /ls, /grep).

    Shows "running…" until `set_output` is called; Esc stops a running command (the app's cancel).
    Afterwards the button, or `a` on the focused block, attaches the output to the next message;
    `c` copies it.
    """

    BINDINGS = [Binding("a", "attach", "Attach"), Binding("c", "copy", "Copy output")]
    MAX_LINES = 20

    def __init__(self, title: str, label: str, *, attachable: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.title = title
        self.label = label  # what the attachment is called, e.g. "$ ls -la"
        self.attachable = attachable
        self.output = ""
        self.ok: bool | None = None  # None while running
        self.meta: dict = {}
        self.attached = False

    def compose(self) -> ComposeResult:
        yield Static(visible(f"⚙ {self.title}"), classes="tool-title", markup=False)
        yield Static("running… (Esc stops it)", classes="tool-output", markup=False)
        yield Button("Attach to next message (a)", classes="attach-button", compact=True)

    def on_mount(self) -> None:
        self.query_one(".attach-button").display = False

    @property
    def running(self) -> bool:
        return self.ok is None

    def set_output(self, output: str, ok: bool, status: str | None = None, meta: dict | None = None) -> None:
        """Show the finished command's output (`status` is a short head line such as "exit 0")."""
        self.output = output
        self.ok = ok
        self.meta = dict(meta or {})
        lines = output.rstrip().splitlines()
        shown = "\n".join(lines[: self.MAX_LINES])
        if len(lines) > self.MAX_LINES:
            shown += f"\n… {len(lines) - self.MAX_LINES} more lines (attach or copy to get all of them)"
        text = "\n".join(part for part in (f"[{status}]" if status else "", shown or "(no output)") if part)
        self.query_one(".tool-output", Static).update(visible(text))
        self.set_class(not ok, "-failed")
        self.query_one(".attach-button").display = self.attachable and bool(output.strip())

    def action_attach(self) -> None:
        if self.running or not self.attachable or not self.output.strip() or self.attached:
            return
        self.attached = True
        button = self.query_one(".attach-button", Button)
        button.label = "Attached ✓"
        button.disabled = True
        self.post_message(AttachRequested(self.label, self.output))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_attach()

    def action_copy(self) -> None:
        self.post_message(Copy(self.output, "command output"))
