"""Where KV snapshots go, who may read them, and how much room they take (issue 14, point 8).

The attacks: snapshots (the evaluated text of a conversation) were written world-readable; they went
to ~/.cache whatever GLMCHAT_DATA_DIR said, so a user who moved glmchat's data elsewhere still
filled their home. Now they live in settings.cache_dir()/kv ($GLMCHAT_CACHE_DIR, else
$GLMCHAT_DATA_DIR/cache when that is set, else the user cache dir), files 0600 in 0700 folders,
within `[model] snapshot_budget_mb`, the least recently used removed first.
"""

from __future__ import annotations

import os
import stat
import time

import pytest

from glmchat.engine.kv_snapshot import SnapshotStore, fingerprint, snapshot_dir
from glmchat.errors import ConfigError
from glmchat.settings import load_settings
from tests.engine.test_kv_snapshot import _FakeEngine


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_snapshots_follow_glmchat_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GLMCHAT_CACHE_DIR")
    monkeypatch.setenv("GLMCHAT_DATA_DIR", str(tmp_path / "big-disk"))
    assert snapshot_dir() == tmp_path / "big-disk" / "cache" / "kv"
    monkeypatch.setenv("GLMCHAT_CACHE_DIR", str(tmp_path / "cache"))  # named explicitly: that one
    assert snapshot_dir() == tmp_path / "cache" / "kv"


def test_snapshot_files_are_private(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    old = os.umask(0)
    try:
        store = SnapshotStore(tmp_path / "cache" / "kv", min_tokens=10)
        assert store.save(_FakeEngine(model), 1) == 1000
    finally:
        os.umask(old)
    assert mode(tmp_path / "cache") == 0o700 and mode(store.root) == 0o700
    assert {p.name.split(".")[-1]: mode(p) for p in store.root.iterdir()} == {"kv": 0o600, "json": 0o600}


def test_the_budget_in_config_evicts_the_least_recently_used(tmp_path):
    from glmchat.settings import config_path

    config_path().write_text("[model]\nsnapshot_budget_mb = 1\n", encoding="utf-8")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    eng = _FakeEngine(model, payload=600_000)
    store = SnapshotStore.for_settings(load_settings())
    assert store.root == snapshot_dir() and store.max_total_bytes == 2**20
    store.min_tokens = 10
    assert store.save(eng, 1) == 600_000
    then = time.time() - 60
    os.utime(store._paths(1, fingerprint(eng))[0], (then, then))
    assert store.save(eng, 2) == 600_000  # 1.2 MB > 1 MiB: conversation 1, the older, goes
    assert sorted(p.name.split("-")[0] for p in store.root.glob("*.kv")) == ["conv2"]


@pytest.mark.parametrize("value", ["-1", '"4G"', "1.5"])
def test_a_bad_budget_is_a_config_error(value):
    from glmchat.settings import config_path

    config_path().write_text(f"[model]\nsnapshot_budget_mb = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="snapshot_budget_mb"):
        load_settings()
