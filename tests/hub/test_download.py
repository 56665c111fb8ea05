"""Downloads from a Hub look-alike on 127.0.0.1 into the HF cache: verification, faults, resume, offline."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import glmchat.hub.downloader as dl
from glmchat.hub import (
    Catalog,
    ChecksumError,
    DiskFullError,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    HubAuthError,
    HubNotFoundError,
    OfflineError,
    RichProgress,
    download,
    ensure_model,
    hub_cache_dir,
    local_model_path,
)
from glmchat.hub import cache as hcache
from tests.fake_hub import BF16_1, BF16_2, COMMIT, PREFIX, Q4, REPO, FakeHub, repo_files
from tests.fake_hub import resolve_requests as _resolve_requests
from tests.fake_hub import use_fake_hub as _use

ROOT = Path(__file__).resolve().parents[2]


def test_download_into_hf_cache_layout_seen_by_huggingface_hub(hub):
    path = download("Q4_K_M")
    sha = hub.files[Q4].sha256
    repo_dir = hub_cache_dir() / "models--unsloth--GLM-4.7-Flash-GGUF"
    assert path == repo_dir / "snapshots" / COMMIT / Q4
    assert path.is_symlink() and os.readlink(path) == f"../../blobs/{sha}"
    assert path.read_bytes() == hub.files[Q4].data
    assert (repo_dir / "refs" / "main").read_text() == COMMIT
    assert not list((repo_dir / "blobs").glob("*.incomplete"))
    assert local_model_path("Q4_K_M") == path and local_model_path("Q6_K") is None

    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    info = scan_cache_dir(hub_cache_dir())
    (repo,) = [r for r in info.repos if r.repo_id == REPO]
    assert repo.size_on_disk == hub.files[Q4].size
    assert try_to_load_from_cache(REPO, Q4, cache_dir=hub_cache_dir()) == str(path)

    before = hub.total_served()
    assert download("Q4_K_M") == path  # already complete: nothing fetched again
    assert hub.total_served() == before


def test_split_quant_downloads_every_shard_and_returns_the_first(hub):
    path = download("BF16")
    assert path.name == f"{PREFIX}BF16-00001-of-00002.gguf"
    second = path.parent / f"{PREFIX}BF16-00002-of-00002.gguf"
    assert second.read_bytes() == hub.files[BF16_2].data
    assert path.read_bytes() == hub.files[BF16_1].data
    assert local_model_path("BF16") == path
    os.unlink(hcache.blob_path(hub.files[BF16_2].sha256))  # a shard gone → not usable
    assert local_model_path("BF16") is None


def test_authorization_and_401(hub, monkeypatch):
    hub.token = "hf_secret"
    with pytest.raises(HubAuthError) as err:
        download("Q4_K_M")
    assert "401" in err.value.message and "HF_TOKEN" in err.value.hint
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(HubAuthError) as err:
        Catalog.load()
    assert "rejected" in err.value.hint
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert download("Q4_K_M").read_bytes() == hub.files[Q4].data
    assert all(h.get("Authorization") == "Bearer hf_secret" for _, _, h in hub.requests[-2:])


def test_missing_repo_and_404(hub):
    hub.repo_exists = False
    with pytest.raises(HubNotFoundError) as err:
        download("Q4_K_M")
    assert "unsloth/GLM-4.7-Flash-GGUF was not found" in err.value.message
    hub.repo_exists = True
    hub.status = 404
    with pytest.raises(HubNotFoundError):
        Catalog.load()
    hub.status = None
    cat = Catalog.load()
    del hub.files[Q4]  # listed, but the file is gone on the server
    with pytest.raises(HubNotFoundError) as err:
        dl.download_quant(cat.get("Q4_K_M"), COMMIT)
    assert "HTTP 404" in err.value.message


def test_hash_mismatch_moves_file_aside_then_redownload_works(hub):
    hub.corrupt.add(Q4)
    sha = hub.files[Q4].sha256
    with pytest.raises(ChecksumError) as err:
        download("Q4_K_M")
    bad = hcache.corrupt_path(sha)
    assert err.value.corrupt_path == str(bad) and bad.exists()
    assert "download Q4_K_M" in err.value.hint
    assert not hcache.blob_path(sha).exists() and not hcache.incomplete_path(sha).exists()
    assert local_model_path("Q4_K_M") is None
    hub.corrupt.clear()
    assert download("Q4_K_M").read_bytes() == hub.files[Q4].data


def test_disk_space_checked_before_starting(hub, monkeypatch):
    monkeypatch.setattr(dl, "disk_free", lambda path: 1_000_000)
    with pytest.raises(DiskFullError) as err:
        download("Q4_K_M")
    assert "Not enough disk space" in err.value.message
    assert _resolve_requests(hub) == []


def test_enospc_while_writing_keeps_consistent_partial_and_resumes(hub, monkeypatch):
    size = hub.files[Q4].size
    real_open = open

    class FullDisk:
        def __init__(self, fh):
            self.fh, self.written = fh, fh.tell()

        def write(self, b):
            if self.written + len(b) > size // 2:
                self.fh.write(b[:100])  # a short write lands before the failure
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(b)
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake_open(p, mode="r", *a, **k):
        fh = real_open(p, mode, *a, **k)
        return FullDisk(fh) if "a" in mode else fh

    with monkeypatch.context() as m, pytest.raises(DiskFullError) as err:
        m.setattr(dl, "open", fake_open, raising=False)
        download("Q4_K_M")
    assert "Disk full" in err.value.message and "resume" in err.value.hint
    part = hcache.incomplete_path(hub.files[Q4].sha256)
    kept = part.stat().st_size
    assert 0 < kept <= size // 2 and part.read_bytes() == hub.files[Q4].data[:kept]  # no torn tail
    assert local_model_path("Q4_K_M") is None
    assert download("Q4_K_M").read_bytes() == hub.files[Q4].data
    assert [h for _, p, h in hub.requests if p.endswith(Q4)][-1]["Range"] == f"bytes={kept}-"


def test_dropped_connection_is_resumed_automatically(hub):
    hub.cut_once[Q4] = 0.6
    assert download("Q4_K_M").read_bytes() == hub.files[Q4].data
    reqs = [h for _, p, h in hub.requests if p.endswith(Q4)]
    assert len(reqs) == 2 and reqs[1]["Range"] == f"bytes={int(hub.files[Q4].size * 0.6)}-"
    assert hub.total_served(Q4) == hub.files[Q4].size


def test_retries_are_bounded_then_clear_error(hub):
    hub.cut_always[Q4] = 0  # every response dies before its first byte
    with pytest.raises(DownloadError) as err:
        download("Q4_K_M")
    assert "retries used up" in err.value.message and "again to resume" in err.value.hint
    assert len(_resolve_requests(hub, Q4)) == len(dl.RETRY_DELAYS) + 1


def test_server_ignoring_range_restarts_cleanly(hub):
    sha = hub.files[Q4].sha256
    part = hcache.incomplete_path(sha)
    part.parent.mkdir(parents=True)
    part.write_bytes(hub.files[Q4].data[:1000])
    hub.ignore_range = True
    assert download("Q4_K_M").read_bytes() == hub.files[Q4].data


def test_one_downloader_per_file(hub):
    import fcntl

    lock = hcache.lock_path(hub.files[Q4].sha256)
    lock.parent.mkdir(parents=True)
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError) as err:
            download("Q4_K_M")
    assert "Another process is already downloading" in err.value.message
    assert _resolve_requests(hub) == []


def test_bad_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "localhost:1")
    from glmchat.hub import HubError

    with pytest.raises(HubError) as err:
        download("Q4_K_M")
    assert "not a usable URL" in err.value.message


# ---- interrupted and resumed ---------------------------------------------------------------------


class _Recorder(DownloadProgress):
    def __init__(self, stop_after: int | None = None):
        self.events: list[tuple] = []
        self.advanced = 0
        self.stop_after = stop_after

    def on_start(self, files, total_bytes):
        self.events.append(("start", [f.path for f in files], total_bytes))

    def on_resume(self, path, nbytes):
        self.events.append(("resume", path, nbytes))

    def on_advance(self, path, nbytes):
        self.advanced += nbytes
        if self.stop_after is not None and self.advanced >= self.stop_after:
            raise KeyboardInterrupt

    def on_file_done(self, path):
        self.events.append(("file_done", path))

    def on_done(self):
        self.events.append(("done",))


def test_ctrl_c_keeps_partial_and_next_run_resumes(hub):
    size = hub.files[Q4].size
    with pytest.raises(DownloadCancelled) as err:
        download("Q4_K_M", _Recorder(stop_after=size // 3))
    assert err.value.exit_code == 130 and "partial file is kept" in err.value.message
    assert "again to resume" in err.value.hint
    kept = hcache.incomplete_path(hub.files[Q4].sha256).stat().st_size
    assert kept >= size // 3
    rec = _Recorder()
    download("Q4_K_M", rec)
    assert ("resume", Q4, kept) in rec.events and rec.advanced == size - kept
    assert rec.events[-2:] == [("file_done", Q4), ("done",)]
    assert [h for _, p, h in hub.requests if p.endswith(Q4)][-1]["Range"] == f"bytes={kept}-"


def test_cancel_event_stops_a_download_in_a_thread(hub):
    hub.throttle = 200_000
    cancel = threading.Event()
    box: dict = {}

    def run():
        try:
            download("Q4_K_M", cancel=cancel)
        except DownloadCancelled as exc:
            box["err"] = exc

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)
    cancel.set()
    th.join(10)
    assert isinstance(box.get("err"), DownloadCancelled)
    assert 0 < hcache.incomplete_path(hub.files[Q4].sha256).stat().st_size < hub.files[Q4].size


@pytest.mark.slow
def test_resume_after_cut_and_kill(monkeypatch, tmp_path):
    files = repo_files({"UD-Q4_K_XL": 16.31}, bytes_per_gib=200_000)  # one 3.3 MB file
    with FakeHub(files) as hub:
        _use(hub, monkeypatch)
        f = files[0]
        hub.cut_once[f.path] = 0.6
        hub.throttle = 1_200_000
        env = dict(os.environ, GLMCHAT_HUB_RETRY_DELAYS="0.05")
        part = hcache.incomplete_path(f.sha256)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from glmchat.hub import download; download('UD-Q4_K_XL')"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if part.exists() and part.stat().st_size >= 0.8 * f.size:
                    break
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        assert len([p for _, p, _ in hub.requests if p.endswith(f.path)]) == 2  # the cut one and its retry
        kept = part.stat().st_size
        assert 0.8 * f.size <= kept < f.size

        hub.throttle = None
        r = subprocess.run([sys.executable, "-m", "glmchat", "download", "UD-Q4_K_XL"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        path = Path(r.stdout.strip().splitlines()[-1])
        assert path.read_bytes() == f.data
        served = hub.total_served(f.path)
        assert served <= 1.05 * f.size, (served, f.size)
        last = [h for _, p, h in hub.requests if p.endswith(f.path)][-1]
        assert last["Range"] == f"bytes={kept}-"


# ---- progress ------------------------------------------------------------------------------------


def test_progress_protocol_order_for_split_quant(hub):
    rec = _Recorder()
    download("BF16", rec)
    total = hub.files[BF16_1].size + hub.files[BF16_2].size
    assert rec.events[0] == ("start", [BF16_1, BF16_2], total)
    assert [e for e in rec.events if e[0] == "file_done"] == [("file_done", BF16_1), ("file_done", BF16_2)]
    assert rec.events[-1] == ("done",) and rec.advanced == total


def test_rich_progress_renders_on_headless_stderr(hub, capsys):
    download("BF16", RichProgress())
    err = capsys.readouterr().err
    assert "GLM-4.7-Flash-BF16-00002-of-00002.gguf" in err and "total (2 files)" in err
    assert "100%" in err and "2.1/2.1 MiB" in err
    last = [ln for ln in err.splitlines() if ln.startswith("total")][-1]
    assert "━" in last and "/s" in last  # bar and speed on one log line


# ---- offline -------------------------------------------------------------------------------------


def test_offline_uses_cache_only(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        download("Q4_K_M")
    assert "HF_HUB_OFFLINE" in err.value.message
    with pytest.raises(OfflineError) as err:
        ensure_model(None, interactive=False)
    assert "not in the Hugging Face cache" in err.value.message and "--model" in err.value.hint
    assert hub.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = download("Q4_K_M")
    n = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download("Q4_K_M") == path
    assert ensure_model("Q4_K_M", interactive=False) == path
    assert ensure_model(None, interactive=False) == path  # the one that is there
    assert len(hub.requests) == n


def test_offline_known_quant_still_says_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        download("q4_k_m")  # known, any case: the offline message, with the catalog's spelling
    assert "Q4_K_M" in err.value.message and "HF_HUB_OFFLINE" in err.value.message
    with pytest.raises(OfflineError) as err:
        ensure_model("q4_k_m", interactive=False)
    assert "Q4_K_M" in err.value.message
