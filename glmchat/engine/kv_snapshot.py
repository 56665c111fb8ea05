"""Instant resume: llama.cpp KV-cache snapshots of long conversations, kept in the cache directory.

When a conversation with a long history is closed, the engine's KV state (the evaluated prompt) is
written next to a small JSON note; when that conversation is reopened on the same model file with the
same context settings, the state is loaded back, so the first new turn evaluates only the new tokens
instead of re-reading the whole history. Snapshots are keyed by conversation and by a fingerprint
of model file + settings, capped in total size (oldest removed first) and removed after `max_age`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glmchat.settings import cache_dir

MIN_TOKENS = 512  # shorter histories re-evaluate in well under a second; not worth a file
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_AGE_S = 14 * 24 * 3600


def snapshot_dir() -> Path:
    return cache_dir() / "kv"


def fingerprint(engine: Any) -> str | None:
    """Model file identity + the settings that shape the KV cache; None for engines without state."""
    info = engine.info
    if not info.path or not hasattr(engine, "save_state"):
        return None
    try:
        st = os.stat(info.path)
    except OSError:
        return None
    d = info.details
    key = json.dumps(
        [os.path.realpath(info.path), st.st_size, int(st.st_mtime), info.n_ctx, d.get("kv_cache_type"), d.get("flash_attn"), d.get("n_gpu_layers")],
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class SnapshotStore:
    root: Path | None = None
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_age: float = MAX_AGE_S
    min_tokens: int = MIN_TOKENS

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root else snapshot_dir()

    def _paths(self, conversation_id: int, fp: str) -> tuple[Path, Path]:
        base = self.root / f"conv{conversation_id}-{fp}"
        return base.with_suffix(".kv"), base.with_suffix(".json")

    def save(self, engine: Any, conversation_id: int) -> int:
        """Write the engine's KV state for this conversation; returns bytes written (0 = skipped)."""
        fp = fingerprint(engine)
        if fp is None or len(engine.cached_tokens) < self.min_tokens:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        for old in self.root.glob(f"conv{conversation_id}-*.kv"):  # one snapshot per conversation
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
        kv, note = self._paths(conversation_id, fp)
        tmp = kv.with_suffix(".kv.tmp")
        n_tokens = engine.save_state(tmp)
        os.replace(tmp, kv)
        note.write_text(json.dumps({"conversation_id": conversation_id, "tokens": n_tokens, "saved_at": time.time(), "model": engine.info.path}))
        self.cleanup()
        return kv.stat().st_size if kv.exists() else 0

    def restore(self, engine: Any, conversation_id: int) -> int:
        """Load this conversation's snapshot into the engine if it matches; returns tokens restored."""
        fp = fingerprint(engine)
        if fp is None:
            return 0
        kv, note = self._paths(conversation_id, fp)
        if not kv.exists():
            return 0
        try:
            n = engine.load_state(kv)
        except Exception:  # a damaged snapshot is only a lost speed-up
            kv.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            return 0
        os.utime(kv)  # recently used: kept longest by the size cap
        return n

    def cleanup(self) -> None:
        """Remove snapshots older than max_age, then the least recently used beyond the size cap."""
        if not self.root.exists():
            return
        now = time.time()
        files = []
        for kv in self.root.glob("*.kv"):
            st = kv.stat()
            if now - st.st_mtime > self.max_age:
                kv.unlink(missing_ok=True)
                kv.with_suffix(".json").unlink(missing_ok=True)
            else:
                files.append((st.st_mtime, st.st_size, kv))
        total = sum(size for _, size, _ in files)
        for _, size, kv in sorted(files):
            if total <= self.max_total_bytes:
                break
            kv.unlink(missing_ok=True)
            kv.with_suffix(".json").unlink(missing_ok=True)
            total -= size
