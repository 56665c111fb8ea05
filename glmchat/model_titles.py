"""Conversation titles written by the model (`[chat] model_titles`), asked for after the first exchange.

`ChatSession.generate_title()` streams `title_request()` through the engine and keeps
`title_from()` of the text; the store's own `auto_title` (the first user message, cut short) stands
until then, and whenever the model gives nothing usable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from glmchat.engine.base import ChatRequest
from glmchat.settings import Settings

TITLE_TOKENS = 24
TITLE_CHARS = 80  # a longer reply is cut to this
EXCHANGE_CHARS = 2000  # of the first question and of the first answer, shown to the model


def title_request(messages: list[dict[str, Any]], settings: Settings) -> ChatRequest:
    """The one-message request for a title of the first exchange in `messages` (thinking off)."""
    first = next((m["content"] for m in messages if m["role"] == "user"), "")
    answer = next((m.get("content") or "" for m in messages if m["role"] == "assistant"), "")
    return ChatRequest(
        messages=[
            {
                "role": "user",
                "content": "Write a title of at most six words for this exchange. Reply with the title only.\n\n"
                f"User: {first[:EXCHANGE_CHARS]}\n\nAssistant: {answer[:EXCHANGE_CHARS]}",
            }
        ],
        sampling=replace(settings.profile("tool"), max_tokens=TITLE_TOKENS),
        enable_thinking=False,
    )


def title_from(text: str) -> str | None:
    """The title in the model's reply: its first line without quotes or a stray </think>; None when empty."""
    lines = text.replace("</think>", "").strip().strip('"').strip().splitlines()
    if not lines or not lines[0].strip():
        return None
    return lines[0].strip()[:TITLE_CHARS]
