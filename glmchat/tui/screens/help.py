"""F1: the keys (with any remapping from config.toml) and the slash commands."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from glmchat.terminal_text import visible
from glmchat.tui import commands, keys


def help_table(overrides: dict[str, str], extra: Sequence[commands.SlashCommand] = ()) -> tuple[Table, Table]:
    kt = Table(title="Keys", box=None, show_header=False, pad_edge=False, expand=True)
    kt.add_column(style="bold", no_wrap=True)
    kt.add_column()
    for bid, _key, desc in keys.describe():
        kt.add_row(escape(keys.key_for(bid, overrides)), f"{escape(desc)}  [dim]({bid})[/dim]")
    kt.add_row("enter / shift+enter, ctrl+j", "Send / new line")
    kt.add_row("up / down", "Earlier prompts (when the input is empty)")
    kt.add_row("@ (in the input)", "Pick a workspace file to attach: Tab/Enter inserts @path, Esc closes")
    kt.add_row("c / k (on a focused message)", "Copy it / copy its last code block")
    ct = Table(title="Slash commands", box=None, show_header=False, pad_edge=False, expand=True)
    ct.add_column(style="bold", no_wrap=True)
    ct.add_column()
    for c in commands.COMMANDS:
        ct.add_row(escape(f"/{c.name} {c.args}".rstrip()), escape(c.description))
    if extra:  # your own commands (.glmchat/commands/, commands/ in the config directory): their text is not glmchat's
        ct.add_row("[dim]your own commands[/dim]", "")
        for c in extra:
            ct.add_row(escape(visible(f"/{c.name} {c.args}".rstrip())), escape(visible(c.description)))
    return kt, ct


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close")]

    def __init__(self, overrides: dict[str, str] | None = None, extra: Sequence[commands.SlashCommand] = ()) -> None:
        super().__init__()
        self.overrides = overrides or {}
        self.extra = list(extra)

    def compose(self) -> ComposeResult:
        kt, ct = help_table(self.overrides, self.extra)
        with VerticalScroll(classes="dialog help"):
            yield Static("glmchat help  ·  Esc to close", classes="help-title")
            yield Static(kt)
            yield Static(ct)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
