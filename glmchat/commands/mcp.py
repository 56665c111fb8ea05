"""`glmchat mcp list [--json]`: the configured MCP servers started, each with its status and tools."""

from __future__ import annotations

import typer

mcp_app = typer.Typer(
    help="MCP servers ([mcp.servers.NAME] in config.toml): list them with their status and tools.",
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@mcp_app.command("list")
def list_servers(as_json: bool = typer.Option(False, "--json", help="Print the servers as JSON.")) -> None:
    """Start the configured MCP servers, list each with its status and tools, then stop them."""
    import json
    import sys

    from glmchat.mcp.listing import probe_servers, render
    from glmchat.settings import load_settings
    from glmchat.terminal_text import for_stream

    rows = probe_servers(load_settings())
    # names, errors and descriptions come from the servers: control characters made visible on a terminal
    text = json.dumps(rows, indent=2) + "\n" if as_json else render(rows)
    typer.echo(for_stream(sys.stdout)(text), nl=False)
    if any(row["status"] == "failed" for row in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(mcp_app, name="mcp")
