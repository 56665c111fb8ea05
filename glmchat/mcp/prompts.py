"""A server's MCP prompts as commands `/mcp__<server>__<prompt> args`: the words fill the prompt's
arguments in order (or NAME=value), and the prompt's messages become the text sent as your message."""

from __future__ import annotations

from dataclasses import dataclass

from glmchat.errors import UsageError
from glmchat.mcp.manager import McpManager
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
