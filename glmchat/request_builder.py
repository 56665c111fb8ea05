"""The next request from a conversation: system prompt, the messages that fit, tools, thinking flags.

`ChatSession.build_request()` and the turn loop call these; what the model sees is decided here (and
by the chat template the engine renders it with).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from glmchat.engine.base import ChatRequest
from glmchat.errors import GlmchatError, UsageError
from glmchat.session_events import Notice
from glmchat.settings import THINKING_MODES

if TYPE_CHECKING:
    from glmchat.session import ChatSession


def thinking_flags(mode: str) -> tuple[bool, bool]:
    """(enable_thinking, clear_thinking) for a conversation's thinking mode."""
    if mode not in THINKING_MODES:
        raise UsageError(f"Unknown thinking mode {mode!r}.", "Use on, off or preserve.")
    return mode != "off", mode != "preserve"


def build_request(session: ChatSession, grammar: str | None = None) -> ChatRequest:
    enable, clear = thinking_flags(session.thinking)
    head = [{"role": "system", "content": session.system_prompt}] if session.system_prompt else []
    body = session.messages[session.omitted_messages :] if session.omitted_messages else list(session.messages)
    tools = session.tool_registry().schemas() if session.tools_enabled else None
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
    """Leave the oldest turns out of the prompt (never the system prompt) until it fits."""
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
