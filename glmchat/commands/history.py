"""`glmchat history ...`: list, show, search, export, import, rename and delete saved conversations.

Every command goes through `glmchat.history.History`, the facade the TUI uses too. Only typer is
imported here; the facade (and with it the store), rich and json load inside the commands.

Stored text is not glmchat's (model output, tool output, imports): list, show and search print it
with its terminal control characters made visible (glmchat.terminal_text.visible), their --json
writes those characters as \\u escapes (the same JSON value), and export to a terminal is made
visible too, while export to a pipe or a file is written as stored.
"""

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

_HL = ("\x02", "\x03")  # snippet markers for human output, turned into highlight styling


def _shown(text: str) -> str:
    from glmchat.terminal_text import visible

    return visible(text)


def _interactive() -> bool:
    """Can we ask the person at the keyboard? (not in scripts and pipes)"""
    return sys.stdin.isatty()


def _history() -> Any:
    """The shared conversation facade (glmchat.history.History); its startup notice goes to stderr.

    A database this user cannot write opens read-only (the notice says what to do): reading works,
    and rename, delete and import refuse with the same hint.
    """
    from glmchat.history import History

    history = History(read_only_ok=True)
    if history.notice:
        typer.echo(f"Note: {history.notice}", err=True)
    return history


def _json_out(data: Any) -> None:
    import json

    from glmchat.terminal_text import visible_json

    typer.echo(visible_json(json.dumps(data, ensure_ascii=False, indent=2)))


def _when(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _highlighted(snippet: str) -> Any:
    from rich.text import Text

    text = Text()
    rest = snippet
    while True:
        start = rest.find(_HL[0])
        if start < 0:
            text.append(_shown(rest))
            return text
        end = rest.find(_HL[1], start)
        end = len(rest) if end < 0 else end
        text.append(_shown(rest[:start]))
        text.append(_shown(rest[start + 1:end]), style="bold reverse")
        rest = rest[end + 1:]


# ---- the commands (registered under `glmchat history` by `register`) ------------------------------


def list_(
    json_: Annotated[bool, typer.Option("--json", help="A JSON array of conversations.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Show at most N.")] = None,
    query: Annotated[Optional[str], typer.Option("--query", "-q", help="Only titles containing this.")] = None,
) -> None:
    """Conversations, most recent activity first."""
    with _history() as history:
        convs = history.list(limit=limit, query=query)
    if json_:
        _json_out([c.to_dict() for c in convs])
        return
    console = _console()
    if not convs:
        console.print("No conversations yet.")
        return
    console.print(_conversation_table(convs, console.width))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TITLE_MIN = 32  # the title keeps at least this much before optional columns are shown


def _conversation_table(convs: list[Any], width: int) -> Any:
    """ID and Title always; Msgs, Last activity and Model only while the title keeps `_TITLE_MIN`.

    Every column but the title is as wide as its widest cell (never cut), so at any terminal
    width the IDs that `show`, `export` and `delete` take stay whole; the title takes the rest.
    """
    from rich.cells import cell_len
    from rich.table import Table

    rows = [{"ID": str(c.id), "Title": _shown(c.title or "(untitled)"), "Msgs": str(c.message_count),
             "Last activity": _when(c.last_activity),
             "Model": _cut(_shown((c.model or "") + (f" {c.quant}" if c.quant else "")), 28)} for c in convs]

    def fit(name: str) -> int:
        return max([len(name)] + [cell_len(r[name]) for r in rows])

    used = fit("ID") + 2 + _TITLE_MIN + 2  # each column is padded by one space on both sides
    shown = []
    for name in ("Msgs", "Last activity", "Model"):  # in the order they give way (the last first)
        if used + fit(name) + 2 > width:
            break
        shown.append(name)
        used += fit(name) + 2
    title = max(min(fit("Title"), width - (used - _TITLE_MIN) - 1), 1)  # the rest, less a column for safety
    table = Table(box=None, header_style="bold")
    table.add_column("ID", justify="right", no_wrap=True, width=fit("ID"))
    table.add_column("Title", no_wrap=True, overflow="ellipsis", width=title)
    for name in shown:
        table.add_column(name, justify="right" if name == "Msgs" else "left", no_wrap=True, width=fit(name))
    for r in rows:
        table.add_row(r["ID"], r["Title"], *(r[name] for name in shown))
    return table


def show(
    conv_id: Annotated[int, typer.Argument(metavar="ID", help="Conversation id (see `history list`).")],
    json_: Annotated[bool, typer.Option("--json", help="Everything, as lossless JSON.")] = False,
    thinking: Annotated[bool, typer.Option("--thinking", help="Include the model's thinking.")] = False,
) -> None:
    """Print one conversation."""
    with _history() as history:
        if json_:
            _json_out(history.to_json(conv_id))
            return
        conv = history.get(conv_id)
        msgs = history.messages(conv_id)
        ran_on = history.run_settings(conv_id).lines()
    _print_transcript(conv, msgs, thinking, ran_on)


_ROLE_STYLES = {"user": "bold green", "assistant": "bold cyan", "tool": "bold yellow", "system": "bold magenta"}


def _print_transcript(conv: Any, msgs: list[Any], thinking: bool, ran_on: list[tuple[str, str]]) -> None:
    """The human form of `history show`: a rule with the title, what it ran on, then each message under its role."""
    import json

    from rich.rule import Rule
    from rich.text import Text

    console = _console()
    console.print(Rule(Text(_shown(f"{conv.title or '(untitled)'}  ·  #{conv.id}"), style="bold")))
    for label, value in ran_on:  # model, file or endpoint, context, profile, thinking
        console.print(Text(f"{label + ':':<10}", style="bold dim") + Text(_shown(value), style="dim"))
    if conv.system_prompt and not any(m.role == "system" for m in msgs):
        console.print(Text("system prompt", style="bold magenta"))
        console.print(Text(_shown(conv.system_prompt), style="dim"))
    for m in msgs:
        head = Text(_shown(m.role + (f" · {m.name}" if m.role == "tool" and m.name else "")), style=_ROLE_STYLES[m.role])
        if m.status != "complete":
            head.append(f"  ({m.shown_status})", style="red")
        console.print()
        console.print(head)
        if thinking and m.reasoning:
            console.print(Text(_shown(m.reasoning.strip()), style="dim italic"))
        if m.content:
            console.print(Text(_shown(m.content)))
        for tc in m.tool_calls or []:
            args = json.dumps(tc.get("arguments") or {}, ensure_ascii=False)
            console.print(Text(_shown(f"→ {tc['name']} {args}"), style="yellow"))


def search(
    text: Annotated[str, typer.Argument(help="Words to find in messages (all must occur).")],
    json_: Annotated[bool, typer.Option("--json", help="A JSON array of hits.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N hits.")] = 50,
) -> None:
    """Full-text search over every conversation."""
    with _history() as history:
        if json_:
            _json_out([h.to_dict() for h in history.search(text, limit=limit)])
            return
        hits = history.search(text, limit=limit, markers=_HL)
    console = _console()
    if not hits:
        console.print(f"Nothing found for {text!r}.")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("Conv", justify="right")
    table.add_column("Title", max_width=30, no_wrap=True)
    table.add_column("Role")
    table.add_column("Found")
    for h in hits:
        table.add_row(str(h.conversation_id), _shown(h.conversation_title or "(untitled)"), h.role, _highlighted(h.snippet))
    console.print(table)


def export(
    conv_id: Annotated[int, typer.Argument(metavar="ID", help="Conversation id.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md (readable) or json (lossless).")] = "md",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    thinking: Annotated[bool, typer.Option("--thinking", help="Markdown: include thinking as <details>.")] = False,
) -> None:
    """Export a conversation as Markdown or JSON."""
    from glmchat.errors import UsageError

    fmt = fmt.lower()
    if fmt in ("markdown",):
        fmt = "md"
    if fmt not in ("md", "json"):
        raise UsageError(f"Unknown export format {fmt!r}.", "Use --format md or --format json.")
    with _history() as history:
        if output is None:  # to a terminal with control characters made visible; to a pipe as stored
            from glmchat.terminal_text import for_stream

            sys.stdout.write(for_stream(sys.stdout)(history.render(conv_id, fmt, thinking=thinking)))
            return
        history.export(conv_id, fmt, output, thinking=thinking, hint="Choose another file with -o.")
    typer.echo(f"Exported conversation {conv_id} to {output}", err=True)


def _read_regular_file(path: Path) -> str:
    """A file's text; a FIFO, device or socket (`/dev/zero`) is refused at once instead of read forever."""
    import os

    from glmchat.regular_files import open_regular, read_fd

    fd, _ = open_regular(path)
    try:
        return read_fd(fd).decode("utf-8")
    finally:
        os.close(fd)


def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A JSON export ('-' reads stdin).")],
) -> None:
    """Import a conversation from a JSON export (it gets a new id)."""
    from glmchat.errors import UsageError

    try:
        raw = sys.stdin.read() if str(file) == "-" else _read_regular_file(file)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read {file}: {getattr(exc, 'strerror', None) or exc}.",
                         "Give the path of a file written by `glmchat history export ID --format json`.") from None
    with _history() as history:
        conv = history.import_text(raw, source=str(file))
    typer.echo(_shown(f"Imported as conversation {conv.id}: {conv.title or '(untitled)'} ({conv.message_count} messages)"))


def rename(
    conv_id: Annotated[int, typer.Argument(metavar="ID", help="Conversation id.")],
    title: Annotated[str, typer.Argument(help="The new title.")],
) -> None:
    """Give a conversation a new title."""
    with _history() as history:
        conv = history.rename(conv_id, title)
    typer.echo(f"Conversation {conv.id} is now titled {conv.title!r}")


def delete(
    conv_id: Annotated[int, typer.Argument(metavar="ID", help="Conversation id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not on a terminal).")] = False,
) -> None:
    """Delete a conversation and all its messages."""
    from glmchat.errors import UsageError

    with _history() as history:
        conv = history.get(conv_id)
        if not yes:
            if not _interactive():
                raise UsageError(f"Not deleting conversation {conv_id} without confirmation.",
                                 "Pass --yes to delete from a script.")
            label = conv.title or "(untitled)"
            if not typer.confirm(f"Delete conversation {conv_id} ({label!r}, {conv.message_count} messages)?"):
                typer.echo("Kept it.")
                raise typer.Exit(1)
        history.delete(conv_id)
    typer.echo(f"Deleted conversation {conv_id}")


COMMANDS = {"list": list_, "show": show, "search": search, "export": export, "import": import_,
            "rename": rename, "delete": delete}


def register(app: typer.Typer) -> None:
    """Add `glmchat history` and its sub-commands (in help order) to `app`."""
    history = typer.Typer(help="Browse, search, export and import saved conversations.", no_args_is_help=True)
    app.add_typer(history, name="history")
    for name, command in COMMANDS.items():
        history.command(name)(command)
