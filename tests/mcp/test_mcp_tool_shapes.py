"""An MCP server's tools as glmchat tools: names, risk from readOnlyHint, schema, results as text."""

from __future__ import annotations

import mcp_types as t

from glmchat.mcp.manager import McpManager
from glmchat.mcp.tools import McpToolSource, as_tool, result_text, tool_name
from glmchat.tools.modes import offered_schemas
from glmchat.tools.registry import ToolRegistry

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def mcp_tool(name: str, read_only: bool | None = None) -> t.Tool:
    notes = t.ToolAnnotations(readOnlyHint=read_only) if read_only is not None else None
    return t.Tool(name=name, description=f"The {name} tool.", inputSchema=SCHEMA, annotations=notes)


def test_names_are_prefixed_with_the_server_and_made_safe():
    assert tool_name("files", "read") == "mcp__files__read"
    assert tool_name("gh", "issues.list/all") == "mcp__gh__issues_list_all"


def test_read_only_hint_makes_a_read_tool_and_anything_else_execute():
    manager = McpManager([])
    assert as_tool(manager, "s", mcp_tool("a", read_only=True)).risk == "read"
    assert as_tool(manager, "s", mcp_tool("b", read_only=False)).risk == "execute"
    assert as_tool(manager, "s", mcp_tool("c")).risk == "execute"


def test_the_schema_the_model_sees_is_the_servers():
    schema = as_tool(McpManager([]), "s", mcp_tool("search")).schema()
    assert schema["function"]["name"] == "mcp__s__search"
    assert schema["function"]["parameters"] == SCHEMA
    assert "The search tool." in schema["function"]["description"]


def test_text_parts_are_joined_and_images_and_blobs_become_notes():
    result = t.CallToolResult(content=[
        t.TextContent(type="text", text="first"),
        t.ImageContent(type="image", data="AAAA", mimeType="image/png"),
        t.TextContent(type="text", text="second"),
    ])
    text, ok = result_text(result)
    assert ok and text.splitlines()[0] == "first" and text.splitlines()[-1] == "second"
    assert "image/png" in text and "cannot read it" in text


def test_an_error_result_is_not_ok():
    text, ok = result_text(t.CallToolResult(content=[t.TextContent(type="text", text="no such issue")], isError=True))
    assert not ok and text == "no such issue"


def test_plan_mode_offers_only_the_read_only_tools_of_a_source():
    manager = McpManager([])

    class Source(McpToolSource):
        def tools(self):
            return [as_tool(manager, "s", mcp_tool("look", True)), as_tool(manager, "s", mcp_tool("change"))]

    registry = ToolRegistry.builtin()
    registry.add_source(Source(manager))
    assert {"mcp__s__look", "mcp__s__change"} <= set(registry.names())
    plan = {s["function"]["name"] for s in offered_schemas(registry, "plan")}
    assert "mcp__s__look" in plan and "mcp__s__change" not in plan and "read_file" in plan
