"""The MCP servers an ACP client passes in session/new and session/load, as glmchat.mcp server configs.

stdio entries (command, args, env) and streamable-HTTP entries (url, headers) are connected for that
session only, by their own McpManager, as if they were in `[mcp.servers]`; the caller stops it when
the session or the process ends. An entry glmchat cannot use (an SSE url, a bad name) is refused with
an error that says which and why.
"""

from __future__ import annotations

from typing import Any

from glmchat.errors import GlmchatError
from glmchat.mcp.config import NAME_RE, ServerConfig

MAX_SERVERS = 32


def configs_from_client(entries: Any) -> list[ServerConfig]:
    """The client's `mcp_servers` list (acp.schema models) as server configs; GlmchatError for one unusable."""
    out: list[ServerConfig] = []
    for entry in list(entries or [])[:MAX_SERVERS]:
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise GlmchatError(f"MCP server name {name!r} is not usable.", "Use letters, digits, _ and - (at most 40).")
        if any(c.name == name for c in out):
            raise GlmchatError(f"Two MCP servers are named {name!r}.", "Give each server its own name.")
        kind = getattr(entry, "type", None)
        if kind == "sse":
            raise GlmchatError(f"MCP server {name!r} uses SSE, which glmchat does not support.",
                               "Use a stdio command or a streamable-HTTP url.")
        if getattr(entry, "command", None):
            out.append(ServerConfig(name=name, command=entry.command, args=list(entry.args or []),
                                    env={v.name: v.value for v in entry.env or []}))
        elif kind == "http" and isinstance(getattr(entry, "url", None), str) and entry.url.startswith(("http://", "https://")):
            out.append(ServerConfig(name=name, url=entry.url, headers={h.name: h.value for h in entry.headers or []}))
        else:
            raise GlmchatError(f"MCP server {name!r} has neither a command nor an http(s) url.", None)
    return out


def start_client_servers(entries: Any, timeout: float, registry: Any) -> Any:
    """Connect the client's servers in the background and give `registry` their tools; → the manager or None."""
    configs = configs_from_client(entries)
    if not configs:
        return None
    from glmchat.mcp.manager import McpManager
    from glmchat.mcp.tools import McpToolSource
    from glmchat.settings import cache_dir

    manager = McpManager(configs, timeout, cache_dir() / "mcp")
    manager.start()
    registry.add_source(McpToolSource(manager))
    return manager
