"""Model-file checks: each bad input gives a one-line ModelError with a hint, never a traceback."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path

import pytest

from glmchat.engine import gguf_check
from glmchat.engine.gguf_check import check_memory, check_model_file, kv_bytes_per_token, read_header
from glmchat.engine.planner import kv_bytes_per_token_layer
from glmchat.errors import GlmchatError, ModelError


def _assert_clear(err: GlmchatError, *words: str) -> None:
    assert isinstance(err, ModelError)
    assert "\n" not in err.message and err.hint
    for w in words:
        assert w in err.message


def test_good_file_passes(smollm2_path):
    assert check_model_file(smollm2_path) == smollm2_path.resolve()
    h = read_header(smollm2_path)
    assert h.architecture == "llama" and h.context_length == 8192
    assert h.data_end == h.file_size  # the tensor table accounts for every byte
    assert len(h.tensors) == 272
    assert h.metadata["tokenizer.ggml.tokens"] is None and h.vocab_size == 49152  # skipped, length kept
    assert "im_start" in h.metadata["tokenizer.chat_template"]


def test_missing_path(tmp_path):
    with pytest.raises(ModelError) as exc:
        check_model_file(tmp_path / "nope.gguf")
    _assert_clear(exc.value, "not found", "nope.gguf")


def test_missing_path_suggests_neighbours(tmp_path):
    (tmp_path / "model-Q4_K_M.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError) as exc:
        check_model_file(tmp_path / "model-Q4.gguf")
    assert "model-Q4_K_M.gguf" in exc.value.hint


def test_directory(tmp_path):
    with pytest.raises(ModelError) as exc:
        check_model_file(tmp_path)
    _assert_clear(exc.value, "is a directory")


@pytest.mark.parametrize("content", [b"", b"GG", b"PK\x03\x04 a zip file, not a model", b"<html>404</html>" * 10])
def test_not_gguf(tmp_path, content):
    p = tmp_path / "model.gguf"
    p.write_bytes(content)
    with pytest.raises(ModelError) as exc:
        check_model_file(p)
    _assert_clear(exc.value, "not a GGUF")


def test_bad_version(tmp_path):
    p = tmp_path / "v9.gguf"
    p.write_bytes(b"GGUF" + (9).to_bytes(4, "little") + bytes(16))
    with pytest.raises(ModelError) as exc:
        check_model_file(p)
    _assert_clear(exc.value, "not a GGUF", "version 9")


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.01, 100_000])
def test_truncated_copy(smollm2_path, tmp_path, keep):
    """Cut in the tensor data (halfway, the last bytes) or inside the header (metadata, vocabulary)."""
    p = tmp_path / "cut.gguf"
    size = smollm2_path.stat().st_size
    n = int(size * keep) if keep < 1 else int(keep)
    with open(smollm2_path, "rb") as src, open(p, "wb") as dst:
        dst.write(src.read(n))
    with pytest.raises(ModelError) as exc:
        check_model_file(p)
    _assert_clear(exc.value, "truncated")
    assert "download" in exc.value.hint


def test_unreadable_file(smollm2_path, tmp_path, monkeypatch):
    p = tmp_path / "locked.gguf"
    shutil.copyfile(smollm2_path, p)
    os.chmod(p, 0)
    if os.access(p, os.R_OK):  # root reads anything: simulate the permission failure
        monkeypatch.setattr(gguf_check.os, "access", lambda path, mode: False)
    with pytest.raises(ModelError) as exc:
        check_model_file(p)
    _assert_clear(exc.value, "permission denied")
    assert "chmod" in exc.value.hint


def test_unreadable_at_open(smollm2_path, monkeypatch):
    """A file that passes os.access but fails at open (ACLs, network mounts) is still a clean error."""
    real_open = builtins.open

    def deny(file, *a, **k):
        if str(file) == str(smollm2_path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *a, **k)

    real_os_open = os.open

    def deny_os(file, *a, **k):  # the header is opened with os.open (O_NONBLOCK, then fstat)
        if str(file) == str(smollm2_path):
            raise PermissionError(13, "Permission denied")
        return real_os_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    monkeypatch.setattr(os, "open", deny_os)
    with pytest.raises(ModelError) as exc:
        read_header(smollm2_path)
    _assert_clear(exc.value, "permission denied")


def test_memory_estimate(smollm2_path):
    h = read_header(smollm2_path)
    per_token = kv_bytes_per_token(h)
    assert per_token == 30 * 3 * (64 + 64) * 2  # layers × kv heads × (k + v dims) × f16
    est = check_memory(smollm2_path, 4096, ram_bytes=8 * 2**30)
    assert est.kv_bytes == per_token * 4096
    assert kv_bytes_per_token(h, "q8_0") < per_token


def test_context_too_large_for_memory(smollm2_path):
    with pytest.raises(ModelError) as exc:
        check_memory(smollm2_path, 8192, ram_bytes=64 * 2**20)
    _assert_clear(exc.value, "8,192-token context", "KV cache")
    assert "--ctx" in exc.value.hint
    # an absurd context on this machine's real RAM
    with pytest.raises(ModelError):
        check_memory(smollm2_path, 100_000_000)
    # VRAM counts towards the budget
    check_memory(smollm2_path, 8192, ram_bytes=64 * 2**20, vram_bytes=2 * 2**30)


def test_mla_kv_estimate(tiny_glm_path):
    """The MLA figure is the planner's per-layer one, and never below what llama.cpp allocates (K only)."""
    h = read_header(tiny_glm_path)
    assert h.architecture == "deepseek2"
    n_layer = h.arch_value("block_count")
    assert kv_bytes_per_token(h) == n_layer * kv_bytes_per_token_layer(h.metadata, h.architecture)
    allocated = n_layer * (h.arch_value("attention.kv_lora_rank") + h.arch_value("rope.dimension_count")) * 2
    assert kv_bytes_per_token(h) >= allocated
    assert kv_bytes_per_token(h, "q8_0") == int(kv_bytes_per_token(h) * 34 / 64)
    assert check_model_file(tiny_glm_path) == tiny_glm_path.resolve()


def test_unsearchable_folder_in_path(tmp_path, monkeypatch):
    """A folder without search (x) permission makes stat() fail with EACCES: a clear ModelError."""
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "model.gguf"
    target.write_bytes(b"GGUF")
    real_stat = gguf_check.Path.stat

    def stat(self, *a, **k):
        if str(self).startswith(str(locked) + os.sep):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *a, **k)

    monkeypatch.setattr(gguf_check.Path, "stat", stat)
    with pytest.raises(ModelError) as exc:
        check_model_file(target)
    _assert_clear(exc.value, "permission denied", "model.gguf")
    assert "search" in exc.value.hint


@pytest.mark.slow
def test_unsearchable_folder_for_real(smollm2_path, tmp_path):
    """Same, with real permissions: a child process without the capabilities that let root ignore them."""
    import subprocess
    import sys

    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copyfile(smollm2_path, locked / "m.gguf")
    os.chmod(locked, 0o600)  # readable listing, no search
    cmd = [sys.executable, "-c", "import sys; from glmchat.engine.gguf_check import check_model_file as c\n"
           "from glmchat.errors import ModelError\ntry: c(sys.argv[1])\nexcept ModelError as e: print('ERR', e); sys.exit(3)", str(locked / "m.gguf")]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None or subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True).returncode:
            pytest.skip("running as root and cannot drop capabilities here")
        cmd = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    finally:
        os.chmod(locked, 0o700)
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("ERR Cannot reach") and "permission denied" in out.stdout and "Traceback" not in out.stderr


def test_engine_load_runs_the_checks(tmp_path):
    from glmchat.engine.local import LocalEngine

    p = tmp_path / "fake.gguf"
    p.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        LocalEngine.load(p)
