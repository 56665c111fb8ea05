"""llama.cpp's log file is private and bounded (issue 14, point 8).

The attack: llama.log (model paths, prompts when verbose, errors) was created world-readable and
grew without bound, one model load after another. Now it is 0600 in a 0700 folder, whatever the
umask, and rotates at MAX_BYTES to llama.log.1, keeping one old generation.
"""

from __future__ import annotations

import os
import stat

import pytest

from glmchat.engine import llama_log
from glmchat.engine.llama_log import MAX_BYTES, RotatingLog


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_the_log_rotates_and_keeps_one_old_generation(tmp_path, open_umask):
    path = tmp_path / "data" / "llama.log"
    log = RotatingLog(path, max_bytes=1000)
    for i in range(100):  # 10,000 bytes of chatter
        log.write(b"%04d " % i + b"x" * 94 + b"\n")
    log.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["llama.log", "llama.log.1"]
    assert path.stat().st_size <= 1000 and path.with_name("llama.log.1").stat().st_size <= 1000
    assert path.read_bytes().splitlines()[-1].startswith(b"0099 ")  # the newest lines are kept
    assert path.with_name("llama.log.1").read_bytes().splitlines()[-1].startswith(b"0089 ")
    assert mode(path) == 0o600 and mode(path.with_name("llama.log.1")) == 0o600 and mode(path.parent) == 0o700


def test_install_starts_a_private_log_and_rotates_an_oversized_one(tmp_path, open_umask):
    pytest.importorskip("llama_cpp")
    path = tmp_path / "llama.log"
    path.write_bytes(b"old line\n" * (MAX_BYTES // 9 + 1))  # left by an older glmchat, world-readable
    os.chmod(path, 0o644)
    try:
        assert llama_log.install(path) == path
        assert path.stat().st_size == 0 and path.with_name("llama.log.1").stat().st_size > MAX_BYTES
        assert mode(path) == 0o600 and llama_log.log_file() == path
    finally:
        llama_log.install()  # back to settings.log_path() (the test's sandboxed data dir)
