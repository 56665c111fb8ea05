"""The registry: validates a call's arguments, runs the tool and caps its output.

The tool types themselves (`Tool`, `ToolResult`, `ToolContext`) live in `glmchat.tools.base`.

`ToolRegistry.execute()` never raises for a tool failure: an unknown tool, bad arguments, a path
outside the workspace, a timeout all come back as `ToolResult(ok=False, error=...)` with text the
model can act on.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Iterable, Iterator

from glmchat.errors import GlmchatError
from glmchat.tools.base import DEFAULT_OUTPUT_CAP, RISKS, Risk, Tool, ToolContext, ToolResult, is_cancelled
from glmchat.tools.workspace import ToolError

__all__ = [  # Tool, ToolContext, ToolResult and is_cancelled are defined in glmchat.tools.base
    "DEFAULT_OUTPUT_CAP", "MAX_TIMEOUT", "RISKS", "Risk", "Tool", "ToolContext", "ToolRegistry", "ToolResult",
    "cap_text", "effective_timeout", "is_cancelled", "validate_arguments",
]

MAX_TIMEOUT = 600.0  # seconds; the most a call may ask for


def cap_text(text: str, cap: int) -> tuple[str, bool]:
    """`text` cut to `cap` characters with a note saying how much was left out."""
    if cap <= 0 or len(text) <= cap:
        return text, False
    more = len(text) - cap
    return text[:cap] + f"\n[output truncated: {more:,} more characters]", True


# ---- argument validation ----------------------------------------------------------------------


def _describe_params(tool: Tool) -> str:
    props: dict[str, Any] = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    parts = []
    for name, spec in props.items():
        kind = spec.get("type", "any")
        parts.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(parts) or "none"


def _coerce(value: Any, kind: str | list[str] | None) -> tuple[bool, Any]:
    """(ok, value converted to the schema type). Accepts the string forms a tool-call parser may leave."""
    if kind is None:
        return True, value
    kinds = kind if isinstance(kind, list) else [kind]
    for k in kinds:
        if k == "string" and isinstance(value, str):
            return True, value
        if k == "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return True, value
            if isinstance(value, float) and value.is_integer():
                return True, int(value)
            if isinstance(value, str):
                try:
                    return True, int(value.strip())
                except ValueError:
                    pass
        if k == "number":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True, value
            if isinstance(value, str):
                try:
                    return True, float(value.strip())
                except ValueError:
                    pass
        if k == "boolean":
            if isinstance(value, bool):
                return True, value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return True, value.strip().lower() == "true"
        if k == "array" and isinstance(value, list):
            return True, value
        if k == "object" and isinstance(value, dict):
            return True, value
        if k == "null" and value is None:
            return True, value
    # scalars given where a string is expected (the parser JSON-decoded "42"): keep their text
    if "string" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return True, json.dumps(value)
    return False, value


def validate_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    """Checked and type-converted arguments; raises ToolError naming what is wrong and what is expected."""
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        text = arguments.strip()
        try:
            arguments = json.loads(text) if text else {}
        except json.JSONDecodeError:
            arguments = None
    if not isinstance(arguments, dict):
        raise ToolError(
            f"Arguments for {tool.name} must be an object of named values.",
            f"Expected: {_describe_params(tool)}.",
        )
    props: dict[str, Any] = tool.parameters.get("properties", {})
    required: list[str] = list(tool.parameters.get("required", []))
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in props:
            raise ToolError(
                f"Unknown argument {key!r} for {tool.name}.", f"Expected arguments: {_describe_params(tool)}."
            )
        if value is None and key not in required:
            continue
        ok, converted = _coerce(value, props[key].get("type"))
        if not ok:
            got = type(value).__name__
            raise ToolError(
                f"Argument {key!r} of {tool.name} must be of type {props[key].get('type')}, got {got}.",
                f"Expected arguments: {_describe_params(tool)}.",
            )
        enum = props[key].get("enum")
        if enum is not None and converted not in enum:
            raise ToolError(
                f"Argument {key!r} of {tool.name} must be one of {', '.join(map(repr, enum))}.",
                f"Expected arguments: {_describe_params(tool)}.",
            )
        out[key] = converted
    missing = [k for k in required if k not in out]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        raise ToolError(
            f"Missing required argument{'s' if len(missing) > 1 else ''} {names} for {tool.name}.",
            f"Expected arguments: {_describe_params(tool)}.",
        )
    return out


# ---- the registry -------------------------------------------------------------------------------


class ToolRegistry:
    """The tools the model may call, by name, in the order they were added."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._sources: list[Any] = []  # tools that come and go (MCP servers): .tools() and .notices()
        for tool in tools:
            self.register(tool)

    @classmethod
    def builtin(cls, web: dict[str, Any] | None = None) -> "ToolRegistry":
        """A registry holding the built-in tools (read_file, list_dir, glob, grep, write_file, ..., web_fetch;
        web_search when `web`, the [tools.web] settings, has a search_url)."""
        from glmchat.tools.builtin import builtin_tools

        return cls(builtin_tools(web))

    def register(self, tool: Tool) -> None:
        if tool.risk not in RISKS:
            raise ValueError(f"tool {tool.name}: risk must be one of {RISKS}")
        self._tools[tool.name] = tool

    def add_source(self, source: Any) -> None:
        """Tools that come and go (glmchat.mcp.tools.McpToolSource): `source.tools()` is asked each time;
        a registered tool of the same name wins."""
        self._sources.append(source)

    def notices(self) -> Iterator[str]:
        """What the sources have to say (a server still starting, one that failed), once each, as it comes."""
        for src in self._sources:
            yield from src.notices()

    def _current(self) -> dict[str, Tool]:
        if not self._sources:
            return self._tools
        out = dict(self._tools)
        for src in self._sources:
            for tool in src.tools():
                out.setdefault(tool.name, tool)
        return out

    def get(self, name: str) -> Tool | None:
        return self._current().get(name)

    def names(self) -> list[str]:
        return list(self._current())

    def __contains__(self, name: object) -> bool:
        return name in self._current()

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._current().values()))

    def __len__(self) -> int:
        return len(self._current())

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI-style schemas of every tool; this list goes into the chat template as `tools`."""
        return [t.schema() for t in self._current().values()]

    def execute(self, name: str, arguments: Any, ctx: ToolContext) -> ToolResult:
        """Run one call. Never raises for tool failures: they come back as ToolResult(ok=False)."""
        started = time.monotonic()
        tools = self._current()
        tool = tools.get(name)
        if tool is None:
            known = ", ".join(tools) or "none"
            return ToolResult("", ok=False, error=f"Unknown tool {name!r}. Available tools: {known}.")
        try:
            args = validate_arguments(tool, arguments)
        except ToolError as exc:
            return ToolResult("", ok=False, error=str(exc))
        timeout = effective_timeout(tool, args, ctx)
        call_ctx = replace(ctx, timeout=timeout, deadline=started + timeout)
        try:
            if call_ctx.cancelled:
                raise ToolError("Cancelled by the user.", "The call was not run.")
            result = tool.run(args, call_ctx)
        except GlmchatError as exc:
            result = ToolResult("", ok=False, error=str(exc))
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            result = ToolResult("", ok=False, error=f"{tool.name} failed: {exc.strerror or exc}{where}.")
        except Exception as exc:  # a bug in a tool must not end the conversation
            result = ToolResult("", ok=False, error=f"{tool.name} failed unexpectedly: {type(exc).__name__}: {exc}")
        output, cut = cap_text(result.output, tool.output_cap)
        result.output = output
        result.truncated = result.truncated or cut
        result.meta.setdefault("elapsed", round(time.monotonic() - started, 3))
        return result


def effective_timeout(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> float:
    """Seconds this call may take: the call's own `timeout` argument, else the context's, else the tool's."""
    asked = args.get("timeout")
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
        return float(min(asked, MAX_TIMEOUT))
    if ctx.timeout is not None and ctx.timeout > 0:
        return float(ctx.timeout)
    return float(tool.timeout)
