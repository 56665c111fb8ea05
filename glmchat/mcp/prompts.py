"""A server's MCP prompts as commands `/mcp__<server>__<prompt> args`: the words fill the prompt's
arguments in order (or NAME=value), and the prompt's messages become the text sent as your message.
The TUI offers them as slash commands (glmchat.tui.mcp_prompts); `ask` expands a question that is one
(`expand_question`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from glmchat.errors import UsageError
from glmchat.mcp.manager import McpManager, running, start_servers
from glmchat.mcp.tools import tool_name


@dataclass(frozen=True)
class PromptCommand:
    name: str  # mcp__<server>__<prompt>, lower case (slash commands are)
    server: str
    prompt: str  # the server's name for it
    arguments: tuple[tuple[str, bool], ...]  # (name, required), in the server's order
    description: str

    @property
    def usage(self) -> str:
        return " ".join(a if required else f"[{a}]" for a, required in self.arguments)


def prompt_commands(manager: McpManager | None) -> list[PromptCommand]:
    """The prompts of the ready servers."""
    if manager is None:
        return []
    out = []
    for st in manager.states.values():
        if st.status != "ready":
            continue
        for p in st.prompts:
            args = tuple((a.name, bool(a.required)) for a in (p.arguments or []))
            text = (p.description or p.title or p.name).strip()
            out.append(PromptCommand(tool_name(st.name, p.name).lower(), st.name, p.name, args, f"{text} (MCP server {st.name})"))
    return out


def fill_arguments(cmd: PromptCommand, words: list[str]) -> dict[str, str]:
    """Positional words and NAME=value pairs → the prompt's arguments; UsageError for a missing one."""
    names = [a for a, _ in cmd.arguments]
    values: dict[str, str] = {}
    positional = iter(n for n in names)
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key in names:
            values[key] = value
            continue
        name = next((n for n in positional if n not in values), None)
        if name is None:
            raise UsageError(f"/{cmd.name} takes {len(names)} argument(s): {cmd.usage or 'none'}.", f"Usage: /{cmd.name} {cmd.usage}".rstrip())
        values[name] = word
    missing = [a for a, required in cmd.arguments if required and a not in values]
    if missing:
        raise UsageError(f"/{cmd.name} needs {', '.join(missing)}.", f"Usage: /{cmd.name} {cmd.usage}")
    return values


def prompt_text(manager: McpManager, cmd: PromptCommand, words: list[str]) -> str:
    """The prompt's messages as one text (text parts; a note for other content). Blocking."""
    result = manager.get_prompt(cmd.server, cmd.prompt, fill_arguments(cmd, words))
    parts = []
    for message in result.messages:
        content = message.content
        kind = getattr(content, "type", "")
        parts.append(content.text if kind == "text" else f"[{kind or 'non-text'} content of the prompt left out]")
    return "\n\n".join(parts)


def expand_question(question: str, settings: Any) -> str | None:
    """`question` `/mcp__<server>__<prompt> args` → the prompt's text, from the user's [mcp.servers]
    (started here unless running, and waited for); None when `question` is not such a command.
    UsageError for an unknown prompt, a server that did not start, or missing arguments. Blocking."""
    from glmchat.custom_commands import invocation

    call = invocation(question)
    if call is None or not call[0].startswith("mcp__"):
        return None
    manager = running() or start_servers(settings)
    if manager is None:
        raise UsageError(f"/{call[0]} names an MCP prompt, but no MCP server is configured.", "Add one under [mcp.servers] in config.toml (see glmchat mcp list).")
    manager.wait_ready()
    commands = {c.name: c for c in prompt_commands(manager)}
    cmd = commands.get(call[0])
    if cmd is None:
        failed = [f"{st.name} ({st.error})" for st in manager.states.values() if st.status != "ready"]
        known = ", ".join(f"/{n}" for n in sorted(commands)) or "none"
        hint = f"Prompts offered: {known}." + (f" Not running: {'; '.join(failed)}." if failed else "")
        raise UsageError(f"No MCP server offers the prompt /{call[0]}.", hint)
    try:
        words = shlex.split(call[1])
    except ValueError as exc:
        raise UsageError(f"/{cmd.name}: {exc}.", f"Usage: /{cmd.name} {cmd.usage}".rstrip()) from None
    return prompt_text(manager, cmd, words)
