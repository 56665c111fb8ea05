"""`[mcp]` in config.toml: the servers (stdio command or streamable-HTTP url) and the call timeout.

Checked when settings load (glmchat.settings calls `server_problem` per server, so an error names the
file, line and key); nothing here imports the SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # becomes part of mcp__<server>__<tool>
SERVER_KEYS = ("command", "args", "env", "url", "headers_env", "enabled")


@dataclass
class ServerConfig:
    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers_env: dict[str, str] = field(default_factory=dict)  # header → name of the variable holding its value
    enabled: bool = True
    headers: dict[str, str] = field(default_factory=dict)  # header → value (servers an ACP client passes)

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"


def _str_table(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


def server_problem(name: str, spec: Any) -> tuple[str | None, str] | None:
    """(key or None, what is wrong) for one `[mcp.servers.NAME]` table; None when it is valid."""
    if not NAME_RE.match(name):
        return None, "is not a usable server name (letters, digits, _ and -, at most 40)"
    if not isinstance(spec, dict):
        return None, "must be a table with command = ... (stdio) or url = ... (streamable HTTP)"
    for key, value in spec.items():
        if key not in SERVER_KEYS:
            return key, "is not a server setting (known: " + ", ".join(SERVER_KEYS) + ")"
        if key in ("command", "url") and not (isinstance(value, str) and value.strip()):
            return key, "must be a non-empty string"
        if key == "args" and not (isinstance(value, list) and all(isinstance(a, str) for a in value)):
            return key, 'must be a list of strings, e.g. ["-m", "my_server"]'
        if key in ("env", "headers_env") and not _str_table(value):
            return key, 'must be a table of strings, e.g. { NAME = "value" }'
        if key == "enabled" and not isinstance(value, bool):
            return key, "must be true or false"
    if ("command" in spec) == ("url" in spec):
        return None, "needs exactly one of command = ... (stdio) or url = ... (streamable HTTP)"
    if "url" in spec and not re.match(r"^https?://", spec["url"]):
        return "url", "must start with http:// or https://"
    if "url" in spec and ("args" in spec or "env" in spec):
        return "args" if "args" in spec else "env", "applies to a stdio server (command = ...), not to a url"
    if "command" in spec and "headers_env" in spec:
        return "headers_env", "applies to a url server, not to a stdio command"
    return None


def check_servers(value: Any) -> str | None:
    """The schema check of `mcp.servers` as a whole (each server is checked by `server_problem`)."""
    return None if isinstance(value, dict) else "must be a table of [mcp.servers.NAME] sections"


def servers_from(servers: dict[str, Any]) -> list[ServerConfig]:
    """The configured servers (already checked), in the order of the file."""
    out = []
    for name, spec in servers.items():
        out.append(ServerConfig(
            name=name, command=spec.get("command"), args=list(spec.get("args", [])), env=dict(spec.get("env", {})),
            url=spec.get("url"), headers_env=dict(spec.get("headers_env", {})), enabled=spec.get("enabled", True),
        ))
    return out
