"""The next request from a conversation: system prompt, the messages that fit, tools, thinking flags.

`ChatSession.build_request()` and the turn loop call these; what the model sees is decided here (and
by the chat template the engine renders it with).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from glmchat.agent_prompt import ENV_KEY, builtin_prompt
from glmchat.engine.base import ChatRequest
from glmchat.errors import GlmchatError, UsageError
from glmchat.session_events import Notice
from glmchat.settings import THINKING_MODES
from glmchat.tools.modes import offered_schemas, system_line

if TYPE_CHECKING:
    from glmchat.session import ChatSession


def thinking_flags(mode: str) -> tuple[bool, bool]:
    """(enable_thinking, clear_thinking) for a conversation's thinking mode."""
    if mode not in THINKING_MODES:
        raise UsageError(f"Unknown thinking mode {mode!r}.", "Use on, off or preserve.")
    return mode != "off", mode != "preserve"


@dataclass(frozen=True)
class SystemPart:
    kind: str  # "builtin" | "instructions" | "user" (what /context calls it comes from PART_NAMES)
    text: str


PART_NAMES = {"builtin": "system prompt (built-in)", "instructions": "instructions (AGENTS.md)", "user": "/system text",
              "mode": "plan mode (Shift+Tab)"}


def workspace_root(session: ChatSession) -> Path:
    """The workspace the prompt describes: the session's, else the current directory (where tools would work)."""
    if session.workspace is not None:
        return session.workspace.root
    try:
        return Path.cwd().resolve()
    except OSError:  # the current directory was deleted
        return Path.home()


def system_text(session: ChatSession) -> list[SystemPart]:
    """The system prompt's parts, in order: the built-in prompt (tools on), the instructions (user-wide
    AGENTS.md, then the project's outer → inner), the user's /system text, plan mode's line. Each part is stable from turn
    to turn (see agent_prompt.PromptContext), so the prompt's prefix stays cached."""
    root = workspace_root(session)
    parts: list[SystemPart] = []
    if session.tools_enabled:
        env = session.prompt_context.environment(root)
        parts.append(SystemPart("builtin", builtin_prompt(env, session.tool_registry().names())))
    instructions = session.prompt_context.instructions(root).text()
    if instructions:
        parts.append(SystemPart("instructions", instructions))
    if session.system_prompt:
        parts.append(SystemPart("user", session.system_prompt))
    mode_line = system_line(session.approval.mode) if session.tools_enabled else None
    if mode_line:  # last, so switching modes keeps the cached prefix before it
        parts.append(SystemPart("mode", mode_line))
    return parts


def system_message(parts: list[SystemPart]) -> list[dict]:
    text = "\n\n".join(p.text for p in parts)
    return [{"role": "system", "content": text}] if text else []


def record_environment(session: ChatSession) -> None:
    """Keep the environment the system prompt describes with the conversation (once), so that the
    conversation reopened sends the same prompt (and its KV snapshot still matches)."""
    if not session.tools_enabled or session.store is None or session.conversation_id is None:
        return
    session.prompt_context.environment(workspace_root(session))  # taken now if not yet
    env = session.prompt_context.unrecorded_environment()
    if env is None:
        return
    with suppress(GlmchatError):
        conv = session.store.get_conversation(session.conversation_id)
        settings = conv.settings if isinstance(conv.settings, dict) else {}
        session.store.update_conversation(session.conversation_id, settings={**settings, ENV_KEY: env.record()})


def build_request(session: ChatSession, grammar: str | None = None) -> ChatRequest:
    enable, clear = thinking_flags(session.thinking)
    head = system_message(system_text(session))
    body = session.messages[session.omitted_messages :] if session.omitted_messages else list(session.messages)
    tools = offered_schemas(session.tool_registry(), session.approval.mode) if session.tools_enabled else None
    return ChatRequest(
        messages=head + body,
        sampling=session.sampling(),
        tools=tools,
        enable_thinking=enable,
        clear_thinking=clear,
        grammar=grammar,
    )


def context_used(session: ChatSession) -> tuple[int, int]:
    """(tokens the next prompt takes, context size) — for the status bar."""
    n_ctx = session.engine.info.n_ctx or 0
    try:
        used = session.engine.count_tokens(session.build_request())
    except Exception:
        usage = session.last_usage
        used = usage.prompt_tokens + usage.completion_tokens if usage else 0
    return used, n_ctx


def fit_context(session: ChatSession) -> Iterator[Notice]:
    """Leave the oldest turns out of the prompt (never the system prompt) until it fits; first tell
    once about AGENTS.md files that were skipped or cut."""
    for problem in session.prompt_context.unreported_problems(workspace_root(session)):
        yield Notice(f"Project instructions: {problem}", "warning")
    record_environment(session)
    n_ctx = session.engine.info.n_ctx or 0
    if not n_ctx:
        return
    messages = session.messages
    reserve = min(session.sampling().max_tokens or 2048, max(n_ctx // 4, 256))
    dropped_before = session.omitted_messages
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=0)
    while True:
        used = session.engine.count_tokens(session.build_request())
        if used + reserve <= n_ctx:
            break
        # leave out whole turns: cut at the next user message, never past the current one
        nxt = next((i for i in range(session.omitted_messages + 1, last_user + 1) if messages[i]["role"] == "user"), None)
        if nxt is None:
            if used + 16 > n_ctx:
                raise GlmchatError(
                    f"The message is too long for the context ({used:,} of {n_ctx:,} tokens).",
                    "Shorten it, start a new conversation (Ctrl+N) or raise the context with --ctx.",
                )
            break
        session.omitted_messages = nxt
    if session.omitted_messages > dropped_before:
        turns = sum(1 for m in messages[: session.omitted_messages] if m["role"] == "user")
        yield Notice(
            f"Context full: the oldest {turns} turn(s) are left out of the prompt (still saved). /compact summarises them.",
            "warning",
        )
