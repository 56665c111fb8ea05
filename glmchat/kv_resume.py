"""Instant resume: a conversation's KV state saved when it is left and restored when it is opened.

Only for engines that are `SnapshotCapable` and `Tokenizing` (the local one), only when the cache
holds this conversation's prompt, and never an error: a snapshot that cannot be written or read is
a lost speed-up, nothing more. `ChatSession.close()` calls `save`, `ChatSession.load()` `restore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glmchat.engine.base import SnapshotCapable, Tokenizing

if TYPE_CHECKING:
    from glmchat.session import ChatSession


def snapshots_on(session: ChatSession) -> bool:
    return bool(getattr(session.settings.model, "resume_snapshots", True)) and session.store is not None


def save(session: ChatSession) -> None:
    """Snapshot the engine's KV state for this conversation (when it holds the conversation's prompt)."""
    engine = session.engine
    if session.conversation_id is None or not snapshots_on(session):
        return
    if not isinstance(engine, SnapshotCapable) or not isinstance(engine, Tokenizing):
        return
    try:
        from glmchat.engine.kv_snapshot import SnapshotStore

        prompt = engine.tokenize(engine.render(session.build_request()))
        SnapshotStore.for_settings(session.settings).save(engine, session.conversation_id, prompt_tokens=prompt)
    except Exception:  # noqa: BLE001 - never lose the exit or the switch over a cache file
        pass


def restore(session: ChatSession) -> int:
    """Load this conversation's KV snapshot into the engine when one matches; tokens restored."""
    engine = session.engine
    if session.conversation_id is None or not snapshots_on(session) or not isinstance(engine, SnapshotCapable):
        return 0
    try:
        from glmchat.engine.kv_snapshot import MIN_TOKENS, SnapshotStore, shared_prefix

        cached = engine.cached_tokens
        if len(cached) >= MIN_TOKENS:  # the cache may hold this conversation already (reopened while current)
            if not isinstance(engine, Tokenizing):
                return 0  # cannot tell which prompt the cache holds
            prompt = engine.tokenize(engine.render(session.build_request()))
            if shared_prefix(cached, prompt) >= len(cached) - 16:
                return 0  # keep it: it is at least as fresh as any snapshot
        return SnapshotStore().restore(engine, session.conversation_id)
    except Exception:  # noqa: BLE001 - the first turn then simply evaluates the whole prompt
        return 0
