"""Instant resume: llama.cpp KV-cache snapshots of long conversations, kept in the cache directory.

They live in `settings.cache_dir()/kv` ($GLMCHAT_CACHE_DIR, else $GLMCHAT_DATA_DIR/cache when that is
set, else the user cache dir): a snapshot can always be made again, so it is cache, not data. The
folder is 0700 and every file 0600 (a snapshot holds the conversation's evaluated text).

When a conversation with a long history is closed, the engine's KV state (the evaluated prompt) is
written next to a small JSON note; when that conversation is reopened on the same model file with the
same context settings, the state is loaded back, so the first new turn evaluates only the new tokens
instead of re-reading the whole history. Snapshots are keyed by conversation and by a fingerprint
of model file + settings, capped in total size (`[model] snapshot_budget_mb`; the least recently
used removed first) and removed after `max_age`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glmchat.engine.base import SnapshotCapable
from glmchat.private_files import make_private, open_private, private_dir, write_private
from glmchat.settings import Settings, cache_dir

MIN_TOKENS = 512  # shorter histories re-evaluate in well under a second; not worth a file
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_AGE_S = 14 * 24 * 3600


def snapshot_dir() -> Path:
    return cache_dir() / "kv"


def fingerprint(engine: Any) -> str | None:
    """Model file identity + the settings that shape the KV cache; None for engines without state."""
    info = engine.info
    if not info.path or not isinstance(engine, SnapshotCapable):
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


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two token lists have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass
class SnapshotStore:
    """Snapshot files `conv<ID>-<fingerprint>.kv` (llama.cpp sequence state) with a `.json` note each."""

    root: Path | None = None
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_age: float = MAX_AGE_S
    min_tokens: int = MIN_TOKENS

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root else snapshot_dir()

    @classmethod
    def for_settings(cls, settings: Settings) -> SnapshotStore:
        """The default folder, with the size budget of `[model] snapshot_budget_mb`."""
        budget_mb = getattr(settings.model, "snapshot_budget_mb", MAX_TOTAL_BYTES // 2**20)
        return cls(max_total_bytes=max(0, int(budget_mb)) * 2**20)

    def _paths(self, conversation_id: int, fp: str) -> tuple[Path, Path]:
        base = self.root / f"conv{conversation_id}-{fp}"
        return base.with_suffix(".kv"), base.with_suffix(".json")

    @staticmethod
    def _remove(kv: Path) -> None:
        for p in (kv, kv.with_suffix(".json")):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass

    def save(self, engine: Any, conversation_id: int, *, prompt_tokens: list[int] | None = None) -> int:
        """Write the engine's KV state for this conversation; returns bytes written (0 = skipped).

        Skipped for engines without state, caches shorter than `min_tokens`, and, when
        `prompt_tokens` (the conversation's next prompt) is given, caches that share fewer than
        `min_tokens` leading tokens with it (the cache then holds some other prompt, e.g. a title).
        A failed write leaves no file behind and returns 0.
        """
        fp = fingerprint(engine)
        cached = engine.cached_tokens if fp is not None and self.max_total_bytes > 0 else []
        if fp is None or len(cached) < self.min_tokens:  # also with no budget at all
            return 0
        if prompt_tokens is not None and shared_prefix(cached, prompt_tokens) < self.min_tokens:
            return 0
        kv, note = self._paths(conversation_id, fp)
        tmp = kv.with_suffix(".kv.tmp")
        try:
            private_dir(self.root)
            for old in self.root.glob(f"conv{conversation_id}-*.kv"):  # one snapshot per conversation
                self._remove(old)
            os.close(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))  # llama.cpp's fopen keeps 0600
            n_tokens = engine.save_state(tmp)
            make_private(tmp)
            size = tmp.stat().st_size
            os.replace(tmp, kv)
            info = {"conversation_id": conversation_id, "tokens": n_tokens, "bytes": size, "saved_at": time.time(), "model": engine.info.path}
            write_private(note, json.dumps(info).encode("utf-8"))
        except Exception:  # noqa: BLE001 - disk full, read-only cache, engine busy: no snapshot
            tmp.unlink(missing_ok=True)
            self._remove(kv)
            return 0
        self.cleanup()
        return size if kv.exists() else 0

    def restore(self, engine: Any, conversation_id: int) -> int:
        """Load this conversation's snapshot into the engine if it matches; returns tokens restored.

        A snapshot whose note is missing or disagrees with the file, or that llama.cpp refuses, is
        removed (the engine's cache is then empty, as it would be without a snapshot).
        """
        fp = fingerprint(engine)
        if fp is None:
            return 0
        kv, note = self._paths(conversation_id, fp)
        if not kv.exists():
            return 0
        try:
            info = json.loads(note.read_text(encoding="utf-8"))
            if int(info["bytes"]) != kv.stat().st_size or int(info["conversation_id"]) != conversation_id:
                raise ValueError("snapshot note does not match its file")
            n = engine.load_state(kv)
        except Exception:  # noqa: BLE001 - a damaged snapshot is only a lost speed-up
            self._remove(kv)
            return 0
        try:
            os.utime(kv)  # recently used: kept longest by the size cap
        except OSError:
            pass
        return n

    def cleanup(self) -> None:
        """Remove snapshots older than max_age, then the least recently used beyond the size cap.

        Also removes leftovers: notes without a snapshot and unfinished `.kv.tmp` files an hour old.
        """
        if not self.root.exists():
            return
        now = time.time()
        files = []
        for p in self.root.iterdir():
            try:
                st = p.stat()
            except OSError:  # removed meanwhile by another glmchat
                continue
            if p.suffix == ".kv":
                if now - st.st_mtime > self.max_age:
                    self._remove(p)
                else:
                    files.append((st.st_mtime, st.st_size, p))
            elif p.suffix == ".json" and not p.with_suffix(".kv").exists():
                p.unlink(missing_ok=True)
            elif p.name.endswith(".kv.tmp") and now - st.st_mtime > 3600:
                p.unlink(missing_ok=True)
        total = sum(size for _, size, _ in files)
        for _, size, kv in sorted(files):
            if total <= self.max_total_bytes:
                break
            self._remove(kv)
            total -= size
