"""A server's MCP tools as glmchat `Tool`s (`mcp__<server>__<tool>`), and their results as text.

An MCP tool is risk "execute" (approval asks, plan mode leaves it out) unless the server marks it
read-only (`readOnlyHint`): then it is a "read" tool like read_file. Calls run through
`ToolRegistry.execute`, so approval, rules, modes and the loop guard apply as to the built-ins; the
text comes back capped by the registry. `McpToolSource` is what a registry holds (`add_source`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from glmchat.mcp.manager import McpManager, running
from glmchat.tools.base import Tool, ToolContext, ToolResult

PREFIX = "mcp__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: mcp__<server>__<tool> (characters a tool name cannot hold become _)."""
    return f"{PREFIX}{server}__{_UNSAFE.sub('_', tool)}"


def is_read_only(mcp_tool: Any) -> bool:
    annotations = getattr(mcp_tool, "annotations", None)
    return bool(annotations is not None and getattr(annotations, "read_only_hint", None))


def result_text(result: Any) -> tuple[str, bool]:
    """(text for the model, ok) of a CallToolResult: the text parts joined, a note for each image,
    audio or binary part (the model cannot use them), the structured result when there is no text."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} content ({getattr(item, 'mime_type', None) or 'unknown type'}) left out: "
                         "the model cannot read it]")
        elif kind == "resource":
            inner = getattr(item, "resource", None)
            text = getattr(inner, "text", None)
            parts.append(text if isinstance(text, str) else f"[binary resource {getattr(inner, 'uri', '')} left out]")
        else:
            parts.append(f"[{kind or 'unknown'} content left out]")
    if not parts and getattr(result, "structured_content", None) is not None:
        import json

        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts), not bool(getattr(result, "is_error", False))


def as_tool(manager: McpManager, server: str, mcp_tool: Any) -> Tool:
    """One MCP tool as a glmchat Tool that calls it through `manager`."""
    schema = getattr(mcp_tool, "input_schema", None) or {}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        schema = {"type": "object", "properties": {}}
    remote_name = mcp_tool.name

    def run(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        left = ctx.time_left()
        timeout = manager.timeout if left is None else max(0.1, min(manager.timeout, left))
        result = manager.call(server, remote_name, args, timeout, ctx.cancel)
        text, ok = result_text(result)
        if ok:
            return ToolResult(text, ok=True, meta={"mcp_server": server})
        return ToolResult("", ok=False, error=text or f"{remote_name} failed", meta={"mcp_server": server})

    description = (getattr(mcp_tool, "description", None) or getattr(mcp_tool, "title", None) or remote_name).strip()
    return Tool(
        name=tool_name(server, remote_name),
        description=f"{description} (MCP server {server})",
        parameters=schema,
        risk="read" if is_read_only(mcp_tool) else "execute",
        run=run,
        timeout=manager.timeout,
    )


class McpToolSource:
    """The tools of the manager's ready servers, for a ToolRegistry (`registry.add_source(...)`)."""

    def __init__(self, manager: McpManager) -> None:
        self.manager = manager

    def tools(self) -> list[Tool]:
        out = []
        for st in self.manager.states.values():
            if st.status == "ready":
                out.extend(as_tool(self.manager, st.name, t) for t in st.tools)
        return out

    def notices(self) -> Iterator[str]:
        """Says which servers are still starting and waits for them (bounded, once: the [mcp] timeout
        after start), then the notices of servers that failed. A generator: each notice shows as it comes."""
        starting, left = self.manager.starting()
        if starting and left > 0:
            yield f"Waiting for MCP server{'s' if len(starting) > 1 else ''} {', '.join(starting)} to start (at most {left:.0f} s)."
        self.manager.wait_ready()
        yield from self.manager.take_notices()


def add_running_servers(registry: Any) -> Any:
    """Give `registry` the tools of the process's MCP servers, when some were started; → registry."""
    manager = running()
    if manager is not None and hasattr(registry, "add_source"):
        registry.add_source(McpToolSource(manager))
    return registry
