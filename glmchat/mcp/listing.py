"""The MCP servers as a listing: one row per server (status, why it failed, its tools), as data and text.

`glmchat mcp list` and the TUI's /mcp both show this.
"""

from __future__ import annotations

from typing import Any

from glmchat.mcp.manager import McpManager
from glmchat.mcp.tools import as_tool

NONE_CONFIGURED = "No MCP servers configured: add a [mcp.servers.NAME] table to config.toml (see the README)."


def server_rows(manager: McpManager | None) -> list[dict[str, Any]]:
    """Each server as a plain dict: name, transport, status, error, tools (name, risk, description)."""
    if manager is None:
        return []
    rows: list[dict[str, Any]] = []
    for st in manager.states.values():
        tools = [as_tool(manager, st.name, t) for t in st.tools] if st.status == "ready" else []
        rows.append({
            "name": st.name, "transport": st.config.transport, "status": st.status, "error": st.error,
            "tools": [{"name": t.name, "risk": t.risk, "description": t.description} for t in tools],
        })
    return rows


def probe_servers(settings: Any) -> list[dict[str, Any]]:
    """Start the configured servers, wait for them, and return `server_rows`; they are stopped again
    (`glmchat mcp list`, `glmchat doctor`)."""
    from glmchat.mcp.manager import start_servers, stop_servers

    manager = start_servers(settings)
    try:
        if manager is not None:
            manager.wait_ready()
        return server_rows(manager)
    finally:
        stop_servers()


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as text: a line per server, an indented line per tool (server text: show it through visible())."""
    if not rows:
        return NONE_CONFIGURED + "\n"
    lines = []
    for row in rows:
        why = f" ({row['error']})" if row["error"] else ""
        lines.append(f"{row['name']}  [{row['transport']}]  {row['status']}{why}")
        lines.extend(f"  {tool['name']}  {tool['risk']}  {tool['description']}" for tool in row["tools"])
    return "\n".join(lines) + "\n"
