"""Resumable, verified downloads of one quant's files into the Hugging Face cache.

Bytes go to blobs/<sha256>.incomplete. A new run (or an automatic retry after a dropped
connection) hashes what is already there and asks for the rest with an HTTP Range request. The
file becomes blobs/<sha256> only after its sha256 matched the Hub's; then the snapshot link and
refs/main are written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from glmchat.hub import cache, hubapi
from glmchat.hub.catalog import Catalog, HubFile, Quant
from glmchat.hub.errors import (
    ChecksumError,
    DiskFullError,
    DownloadCancelled,
    DownloadError,
    HubError,
    HubUnreachable,
    OfflineError,
)
from glmchat.hub.progress import DownloadProgress
from glmchat.units import size_text

CHUNK = 256 * 1024
HASH_CHUNK = 8 * 1024 * 1024
# Pauses before each retry of a dropped transfer; a retry that received data starts the list over.
RETRY_DELAYS: tuple[float, ...] = tuple(
    float(x) for x in os.environ.get("GLMCHAT_HUB_RETRY_DELAYS", "0.5,1,2,4,8").split(",") if x.strip()
)
MAX_ATTEMPTS = 200  # hard ceiling on requests per file, whatever happens
DISK_MARGIN = 64 * 1024 * 1024


def disk_free(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (its nearest existing ancestor)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _resume_hint(quant: str) -> str:
    return f"Run `glmchat download {quant}` again to resume where it stopped."


@contextmanager
def _file_lock(path: Path, what: str) -> Iterator[None]:
    """One downloader per blob across processes (released by the OS even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DownloadError(
                f"Another process is already downloading {what}.", "Wait for it to finish, or stop it and run again."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Transfer:
    """The state of one file's .incomplete: length on disk == bytes hashed."""

    def __init__(self, f: HubFile, part: Path) -> None:
        self.f = f
        self.part = part
        self.hasher = hashlib.sha256()
        self.offset = 0

    def load_existing(self, cancel: threading.Event | None) -> None:
        try:
            have = self.part.stat().st_size
        except FileNotFoundError:
            have = 0
        if have > self.f.size:
            self.part.unlink()
            have = 0
        if not have:
            return
        with open(self.part, "rb") as fh:
            while self.offset < have:
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
                block = fh.read(min(HASH_CHUNK, have - self.offset))
                if not block:
                    break
                self.hasher.update(block)
                self.offset += len(block)

    def restart(self) -> None:
        self.hasher = hashlib.sha256()
        self.offset = 0
        with open(self.part, "wb"):
            pass

    def trim(self) -> None:
        """Cut anything written but not hashed (a failed write) so the file matches the hash."""
        try:
            if self.part.stat().st_size != self.offset:
                os.truncate(self.part, self.offset)
        except OSError:
            pass


def _download_file(
    f: HubFile,
    url: str,
    quant: str,
    repo: str,
    progress: DownloadProgress,
    cancel: threading.Event | None,
) -> Path:
    assert f.sha256
    blob = cache.blob_path(f.sha256, repo)
    if blob.exists() and blob.stat().st_size == f.size:
        progress.on_resume(f.path, f.size)
        return blob
    part = cache.incomplete_path(f.sha256, repo)
    part.parent.mkdir(parents=True, exist_ok=True)
    name = f.path.rsplit("/", 1)[-1]
    with _file_lock(cache.lock_path(f.sha256, repo), name):
        t = _Transfer(f, part)
        try:
            t.load_existing(cancel)
            if t.offset:
                progress.on_resume(f.path, t.offset)
            _transfer(t, url, quant, progress, cancel)
        except KeyboardInterrupt:
            t.trim()
            raise DownloadCancelled(
                f"Download of {name} stopped at {size_text(t.offset)} of {size_text(f.size)}; the partial file is kept.",
                _resume_hint(quant),
            ) from None
        digest = t.hasher.hexdigest()
        if digest != f.sha256.lower():
            bad = cache.corrupt_path(f.sha256, repo)
            os.replace(part, bad)
            raise ChecksumError(
                f"{name} failed verification: sha256 {digest[:16]}… is not the Hub's {f.sha256[:16]}….",
                f"The bad file was moved to {bad}. Run `glmchat download {quant}` to download it again.",
                corrupt_path=str(bad),
            )
        os.replace(part, blob)
    return blob


def _transfer(t: _Transfer, url: str, quant: str, progress: DownloadProgress, cancel: threading.Event | None) -> None:
    f, name = t.f, t.f.path.rsplit("/", 1)[-1]
    failures = 0
    for _attempt in range(MAX_ATTEMPTS):
        if t.offset >= f.size:
            return
        start = t.offset
        try:
            _one_request(t, url, progress, cancel)
            if t.offset >= f.size:
                return
            error: BaseException = ConnectionError(f"connection closed after {size_text(t.offset)} of {size_text(f.size)}")
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code not in (416, 429):
                raise hubapi.status_error(exc, name) from None
            error = exc
        except hubapi.NETWORK_ERRORS as exc:
            error = exc
        t.trim()
        failures = 0 if t.offset > start else failures + 1
        if failures > len(RETRY_DELAYS):
            break
        delay = RETRY_DELAYS[failures - 1] if failures else (RETRY_DELAYS[0] if RETRY_DELAYS else 0)
        if cancel is not None and cancel.wait(delay):
            raise KeyboardInterrupt
        if cancel is None:
            time.sleep(delay)
    raise DownloadError(
        f"Download of {name} failed, retries used up: {getattr(error, 'reason', None) or error}; "
        f"{size_text(t.offset)} of {size_text(f.size)} kept.",
        _resume_hint(quant),
    )


def _one_request(t: _Transfer, url: str, progress: DownloadProgress, cancel: threading.Event | None) -> None:
    f = t.f
    headers = {"Accept-Encoding": "identity"}
    if t.offset:
        headers["Range"] = f"bytes={t.offset}-"
    try:
        resp = hubapi.open_url(url, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and t.offset:  # nothing left to send at this offset: start over
            t.restart()
            progress.on_resume(f.path, 0)
        raise
    with resp:
        if t.offset and resp.status == 206:
            crange = resp.headers.get("Content-Range", "")
            try:
                first = int(crange.split()[1].split("-")[0])
            except (IndexError, ValueError):
                first = -1
            if first != t.offset:
                t.restart()
                progress.on_resume(f.path, 0)
                raise ConnectionError(f"server resumed at the wrong place ({crange!r})")
        elif t.offset:  # the server ignored the Range header: take the whole file again
            t.restart()
            progress.on_resume(f.path, 0)
        with open(t.part, "ab") as out:
            _copy(resp, out, t, progress, cancel)


def _copy(resp, out: IO[bytes], t: _Transfer, progress: DownloadProgress, cancel: threading.Event | None) -> None:
    while t.offset < t.f.size:
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt
        chunk = resp.read1(min(CHUNK, t.f.size - t.offset))
        if not chunk:
            return
        try:
            out.write(chunk)
            out.flush()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                t.trim()
                raise DiskFullError(
                    f"Disk full while writing {t.f.path.rsplit('/', 1)[-1]} "
                    f"({size_text(t.offset)} of {size_text(t.f.size)} saved, not yet usable).",
                    f"Free space on {t.part.parent} and run the download again to resume.",
                ) from None
            raise DownloadError(f"Cannot write {t.part}: {exc.strerror or exc}.", "Check the cache directory's permissions.") from None
        t.hasher.update(chunk)
        t.offset += len(chunk)
        progress.on_advance(t.f.path, len(chunk))


def _resolve_url(repo: str, commit: str, path: str) -> str:
    return f"{hubapi.endpoint()}/{repo}/resolve/{commit}/{urllib.parse.quote(path)}"


def check_disk_space(files: list[HubFile], repo: str = hubapi.REPO) -> None:
    """Raise DiskFullError when the cache's filesystem lacks room for the bytes still to fetch."""
    remaining = 0
    for f in files:
        assert f.sha256
        if cache.blob_path(f.sha256, repo).exists():
            continue
        try:
            have = cache.incomplete_path(f.sha256, repo).stat().st_size
        except OSError:
            have = 0
        remaining += max(0, f.size - have)
    if not remaining:
        return
    where = cache.repo_dir(repo)
    free = disk_free(where)
    if free < remaining + DISK_MARGIN:
        raise DiskFullError(
            f"Not enough disk space in {cache.hub_cache_dir()}: {size_text(remaining)} still to download, {size_text(free)} free.",
            "Free some space, or point HF_HUB_CACHE at a disk with room, and run again.",
        )


def download_quant(
    quant: Quant,
    commit: str,
    progress: DownloadProgress | None = None,
    cancel: threading.Event | None = None,
    repo: str = hubapi.REPO,
) -> Path:
    """Fetch every file of `quant` at `commit` (skipping complete ones); returns the first shard's path."""
    if any(not f.sha256 for f in quant.files):
        raise HubError(f"The catalog has no checksums for {quant.name}.", "Connect to the Hub so glmchat can list the repository.")
    progress = progress or DownloadProgress()
    check_disk_space(quant.files, repo)
    progress.on_start(quant.files, quant.size)
    try:
        for f in quant.files:
            _download_file(f, _resolve_url(repo, commit, f.path), quant.name, repo, progress, cancel)
            cache.link_snapshot(commit, f.path, f.sha256 or "", repo)
            progress.on_file_done(f.path)
        cache.write_ref(commit, "main", repo)
    finally:
        progress.on_done()
    return cache.snapshot_path(commit, quant.files[0].path, repo)


def download(
    quant_name: str,
    progress: DownloadProgress | None = None,
    cancel: threading.Event | None = None,
    *,
    repo: str = hubapi.REPO,
    catalog: Catalog | None = None,
) -> Path:
    """Download (or finish downloading) a quant; returns the path llama.cpp should open (first shard).

    Lists the repo on the Hub first (unless given a `catalog` fresh from it) so the newest files are
    fetched; when the Hub cannot be reached a complete copy already in the cache is returned instead.
    """
    if hubapi.is_offline():
        local = cache.local_model_path(quant_name, repo)
        if local is not None:
            return local
        # a typo is "unknown quant" (exit 2), not "not downloaded"; the saved or built-in list knows the names
        quant_name = (catalog or Catalog.load(offline=True, repo=repo)).get(quant_name).name
        raise OfflineError(
            f"{quant_name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set.",
            "Unset HF_HUB_OFFLINE to download it, or pass --model PATH to a GGUF file.",
        )
    try:
        if catalog is None or catalog.source != "hub" or catalog.repo != repo:
            catalog = Catalog.fetch(repo)
    except HubUnreachable:
        local = cache.local_model_path(quant_name, repo)
        if local is not None:
            return local
        raise
    quant = catalog.get(quant_name)
    assert catalog.commit
    return download_quant(quant, catalog.commit, progress, cancel, repo)
