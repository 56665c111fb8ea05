"""Automatic conversation titles from the first user message."""

from __future__ import annotations

TITLE_LENGTH = 60


def auto_title(text: str, limit: int = TITLE_LENGTH) -> str:
    """`text` on one line, cut at a word boundary near `limit` characters with "…" when longer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–—") + "…"
