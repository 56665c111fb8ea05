"""Instant resume: KV-cache snapshots saved on close and restored on reopen (real SmolLM2, 1 thread)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from glmchat.engine.base import ChatRequest, EngineInfo, Finished, SamplingParams
from glmchat.engine.kv_snapshot import SnapshotStore, fingerprint, shared_prefix, snapshot_dir
from glmchat.engine.local import LocalEngine
from glmchat.errors import EngineError
from glmchat.session import ChatSession
from glmchat.settings import load_settings
from glmchat.store import Store

GREEDY = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)
WORDS = ("harbour lantern granite seagull tide compass rope anchor driftwood lighthouse keeper storm "
         "fog horn beacon pier gull oar salt brine sail mast").split()


def _text(i: int, n_words: int) -> str:
    return f"Entry {i}: " + " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n_words)) + "."


def _usage(events: list[Any]) -> Any:
    return next(e.usage for e in events if type(e).__name__ == "TurnFinished")


def _evaluated(usage: Any) -> int:
    return usage.prompt_tokens - usage.cached_prompt_tokens


def _ask(engine: LocalEngine, text: str, max_tokens: int = 4) -> Any:
    req = ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens))
    items = list(engine.stream(req))
    assert isinstance(items[-1], Finished)
    return items[-1].usage


def _new_tokens(engine: LocalEngine, session: ChatSession, question: str) -> int:
    """Tokens the next prompt adds to the conversation so far: the new user turn + the generation prompt."""
    from glmchat.glm import render_prompt

    history = session.build_request()
    so_far = render_prompt(engine.info.chat_template, history.messages, add_generation_prompt=False,
                           enable_thinking=history.enable_thinking, clear_thinking=history.clear_thinking)
    session.messages.append({"role": "user", "content": question})
    try:
        n_next = engine.count_tokens(session.build_request())
    finally:
        session.messages.pop()
    return n_next - len(engine.tokenize(so_far))


# ---- the acceptance test: ≥ 2,000 tokens of history, reopened on a fresh engine ----------------------


@pytest.mark.slow
def test_reopened_conversation_evaluates_only_the_new_turn(smollm2_path, tmp_path):
    settings = load_settings()
    settings.profiles["greedy"] = GREEDY
    store = Store(tmp_path / "c.db")
    conv = store.create_conversation(title="long", profile="greedy")
    for i in range(6):
        store.add_message(conv.id, "user", _text(i, 170))
        store.add_message(conv.id, "assistant", _text(100 + i, 120))

    a = LocalEngine.load(smollm2_path, n_ctx=4096, n_threads=1)
    try:
        s = ChatSession(a, settings, store=store, conversation_id=conv.id, max_tokens=6)
        assert s.restored_tokens == 0  # nothing saved yet
        first = _usage(list(s.send("Which entry mentions the storm first?")))
        assert _evaluated(first) >= 2000, first
        s.close()
        files = sorted(p.name for p in snapshot_dir().iterdir())
        assert files == [f"conv{conv.id}-{fingerprint(a)}.json", f"conv{conv.id}-{fingerprint(a)}.kv"]
        note = json.loads((snapshot_dir() / files[0]).read_text())
        assert note["tokens"] >= 2000 and note["bytes"] == (snapshot_dir() / files[1]).stat().st_size
    finally:
        a.close()

    b = LocalEngine.load(smollm2_path, n_ctx=4096, n_threads=1)
    try:
        s2 = ChatSession(b, settings, store=store, conversation_id=conv.id, max_tokens=6)
        assert s2.restored_tokens == note["tokens"] == len(b.cached_tokens)
        question = "And which entry mentions the compass?"
        new_tokens = _new_tokens(b, s2, question)
        assert 8 <= new_tokens <= 30
        second = _usage(list(s2.send(question)))
        assert second.prompt_tokens >= 2000
        assert _evaluated(second) <= new_tokens + 5, (second, new_tokens)

        # reopening the conversation that is already in the cache keeps the (fresher) cache
        n_cached = len(b.cached_tokens)
        s2.load(conv.id)
        assert s2.restored_tokens == 0 and len(b.cached_tokens) == n_cached

        # control: the same reopen without a snapshot re-reads the whole history
        for p in snapshot_dir().iterdir():
            p.unlink()
        b.reset_cache()
        s3 = ChatSession(b, settings, store=store, conversation_id=conv.id, max_tokens=6)
        assert s3.restored_tokens == 0
        third = _usage(list(s3.send("One more question?")))
        assert _evaluated(third) >= 2000

        # the setting turns it off: nothing is written on close
        settings.model.resume_snapshots = False
        s3.close()
        assert list(snapshot_dir().iterdir()) == []
        settings.model.resume_snapshots = True
        s3.new()  # switching away saves
        assert any(p.suffix == ".kv" for p in snapshot_dir().iterdir())
    finally:
        b.close()
        store.close()


# ---- unit tests ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fingerprint_mismatch_is_not_restored(smollm2_path, tmp_path):
    store = SnapshotStore(tmp_path / "kv", min_tokens=16)
    a = LocalEngine.load(smollm2_path, n_ctx=1024, n_threads=1)
    try:
        _ask(a, _text(1, 40))
        n_cached = len(a.cached_tokens)
        assert store.save(a, 7) > 0
        b = LocalEngine.load(smollm2_path, n_ctx=2048, n_threads=1)  # another context size
        try:
            assert fingerprint(b) != fingerprint(a)
            assert store.restore(b, 7) == 0 and b.cached_tokens == []
        finally:
            b.close()
        # the same settings restore it (the positive control), and the next ask reuses it
        a.reset_cache()
        assert store.restore(a, 7) == n_cached
        assert store.restore(a, 8) == 0  # another conversation has no snapshot
        usage = _ask(a, _text(1, 40))
        assert usage.cached_prompt_tokens == usage.prompt_tokens - 1  # all but the one token re-evaluated for logits
    finally:
        a.close()


@pytest.mark.slow
def test_save_skips_short_caches_and_foreign_prompts(smollm2_path, tmp_path):
    store = SnapshotStore(tmp_path / "kv", min_tokens=80)
    eng = LocalEngine.load(smollm2_path, n_ctx=1024, n_threads=1)
    try:
        _ask(eng, "hi")
        assert len(eng.cached_tokens) < 80
        assert store.save(eng, 1) == 0  # fewer than min_tokens
        _ask(eng, _text(2, 60))
        other = eng.tokenize("something else entirely " * 10)
        assert store.save(eng, 1, prompt_tokens=other) == 0  # the cache holds another prompt
        assert store.save(eng, 1, prompt_tokens=eng.cached_tokens + [5, 6]) > 0
        assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2
    finally:
        eng.close()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garbage-header", "garbage-tokens", "no-note"])
def test_damaged_snapshot_is_ignored_and_removed(smollm2_path, tmp_path, damage):
    store = SnapshotStore(tmp_path / "kv", min_tokens=16)
    eng = LocalEngine.load(smollm2_path, n_ctx=1024, n_threads=1)
    try:
        prompt = _text(3, 60)
        full = _ask(eng, prompt).prompt_tokens
        assert store.save(eng, 3) > 0
        kv = next(store.root.glob("*.kv"))
        data = bytearray(kv.read_bytes())
        if damage == "truncate":
            kv.write_bytes(data[: len(data) // 2])
        elif damage == "garbage-header":
            data[0:8] = b"\xde\xad\xbe\xef" * 2  # magic and version
            kv.write_bytes(data)
        elif damage == "garbage-tokens":
            data[8:12] = (10**6).to_bytes(4, "little")  # a token count beyond the context
            kv.write_bytes(data)
        else:
            kv.with_suffix(".json").unlink()
        eng.reset_cache()
        assert store.restore(eng, 3) == 0
        assert list(store.root.iterdir()) == []  # removed
        assert eng.cached_tokens == []
        usage = _ask(eng, prompt)  # the engine still works and re-reads the prompt
        assert usage.cached_prompt_tokens == 0 and usage.prompt_tokens == full and usage.completion_tokens >= 1
    finally:
        eng.close()


@pytest.mark.slow
def test_load_state_failure_clears_the_cache(smollm2_path, tmp_path):
    eng = LocalEngine.load(smollm2_path, n_ctx=256, n_threads=1)
    try:
        _ask(eng, _text(4, 30))
        assert eng.cached_tokens
        bad = tmp_path / "bad.kv"
        bad.write_bytes(b"not a state file")
        with pytest.raises(EngineError, match="could not be loaded"):
            eng.load_state(bad)
        assert eng.cached_tokens == []
        assert _ask(eng, _text(4, 30)).cached_prompt_tokens == 0
        # a snapshot bigger than this context is refused too
        big = LocalEngine.load(smollm2_path, n_ctx=1024, n_threads=1)
        try:
            _ask(big, _text(5, 300), max_tokens=1)
            assert len(big.cached_tokens) > eng.info.n_ctx
            big.save_state(tmp_path / "big.kv")
        finally:
            big.close()
        with pytest.raises(EngineError):
            eng.load_state(tmp_path / "big.kv")
        assert eng.cached_tokens == []
    finally:
        eng.close()


# ---- the store's bookkeeping (no model needed) -----------------------------------------------------


@dataclass
class _FakeEngine:
    """Just enough engine for SnapshotStore: a model path, settings, cached tokens and save/load."""

    path: Path
    n_tokens: int = 100
    payload: int = 1000
    info: EngineInfo = field(init=False)
    loaded: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.info = EngineInfo(model="fake", path=str(self.path), n_ctx=4096, details={"kv_cache_type": "f16", "flash_attn": False, "n_gpu_layers": 0})

    @property
    def cached_tokens(self) -> list[int]:
        return list(range(self.n_tokens))

    def save_state(self, path: Path) -> int:
        Path(path).write_bytes(b"S" * self.payload)
        return self.n_tokens

    def load_state(self, path: Path) -> int:
        self.loaded.append(Path(path))
        return self.n_tokens


def test_size_cap_removes_least_recently_used(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    store = SnapshotStore(tmp_path / "kv", max_total_bytes=2500, min_tokens=10)
    eng = _FakeEngine(model)
    now = time.time()
    for cid in (1, 2):
        assert store.save(eng, cid) == 1000
    os.utime(store._paths(1, fingerprint(eng))[0], (now - 100, now - 100))
    os.utime(store._paths(2, fingerprint(eng))[0], (now - 50, now - 50))
    assert store.restore(eng, 1) == 100  # use refreshes conversation 1
    assert store.save(eng, 3) == 1000  # 3000 bytes > cap: the least recently used (2) goes
    left = sorted(p.name.split("-")[0] for p in store.root.glob("*.kv"))
    assert left == ["conv1", "conv3"]
    assert not store._paths(2, fingerprint(eng))[1].exists()  # its note too
    assert store.save(eng, 1) == 1000  # saving again replaces, never duplicates
    assert len(list(store.root.glob("conv1-*"))) == 2


def test_age_cleanup_and_leftovers(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    store = SnapshotStore(tmp_path / "kv", max_age=3600, min_tokens=10)
    eng = _FakeEngine(model)
    store.save(eng, 1)
    store.save(eng, 2)
    old = time.time() - 7200
    os.utime(store._paths(1, fingerprint(eng))[0], (old, old))
    (store.root / "conv9-deadbeef.json").write_text("{}")  # a note without its snapshot
    stale_tmp = store.root / "conv8-deadbeef.kv.tmp"
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (old, old))
    fresh_tmp = store.root / "conv7-deadbeef.kv.tmp"  # maybe being written right now: kept
    fresh_tmp.write_bytes(b"x")
    store.cleanup()
    names = sorted(p.name for p in store.root.iterdir())
    fp = fingerprint(eng)
    assert names == sorted([f"conv2-{fp}.json", f"conv2-{fp}.kv", fresh_tmp.name])
    assert store.restore(eng, 1) == 0 and eng.loaded == []


def test_engines_without_state_and_failed_saves(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    store = SnapshotStore(tmp_path / "kv", min_tokens=10)

    class NoState:
        info = EngineInfo(model="remote", path="http://127.0.0.1:1/v1")
        cached_tokens: list[int] = []

    assert fingerprint(NoState()) is None
    assert store.save(NoState(), 1) == 0 and store.restore(NoState(), 1) == 0

    class Failing(_FakeEngine):
        def save_state(self, path: Path) -> int:
            Path(path).write_bytes(b"partial")
            raise EngineError("disk full", "free some space")

    assert store.save(Failing(model), 1) == 0
    assert list(store.root.iterdir()) == []  # no partial file left behind
    eng = _FakeEngine(model)
    store.save(eng, 1)
    model.write_bytes(b"GGUF changed")  # the model file changed: the snapshot no longer matches
    os.utime(model, (time.time() + 10, time.time() + 10))
    assert store.restore(eng, 1) == 0 and eng.loaded == []
