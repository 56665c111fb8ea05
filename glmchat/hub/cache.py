"""The standard Hugging Face cache layout, so `hf cache` and huggingface_hub see our downloads.

    {HF_HUB_CACHE}/models--unsloth--GLM-4.7-Flash-GGUF/
        blobs/<sha256>               complete, verified files
        blobs/<sha256>.incomplete    a transfer in progress (resumed from its length)
        blobs/<sha256>.corrupt       bytes that failed verification, moved aside
        snapshots/<commit>/<path>    relative symlinks to the blobs
        refs/main                    the commit `main` pointed at when we last downloaded
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from glmchat.hub import hubapi
from glmchat.hub.quant_names import parse_gguf_path


def hub_cache_dir() -> Path:
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(env).expanduser() if env else hubapi.hf_home() / "hub"


def repo_folder(repo: str = hubapi.REPO) -> str:
    return "models--" + repo.replace("/", "--")


def repo_dir(repo: str = hubapi.REPO) -> Path:
    return hub_cache_dir() / repo_folder(repo)


def blob_path(sha256: str, repo: str = hubapi.REPO) -> Path:
    return repo_dir(repo) / "blobs" / sha256


def incomplete_path(sha256: str, repo: str = hubapi.REPO) -> Path:
    return repo_dir(repo) / "blobs" / f"{sha256}.incomplete"


def corrupt_path(sha256: str, repo: str = hubapi.REPO) -> Path:
    return repo_dir(repo) / "blobs" / f"{sha256}.corrupt"


def lock_path(sha256: str, repo: str = hubapi.REPO) -> Path:
    return hub_cache_dir() / ".locks" / repo_folder(repo) / f"{sha256}.lock"


def snapshot_path(commit: str, path: str, repo: str = hubapi.REPO) -> Path:
    return repo_dir(repo) / "snapshots" / commit / path


def read_ref(ref: str = "main", repo: str = hubapi.REPO) -> str | None:
    try:
        return (repo_dir(repo) / "refs" / ref).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def write_ref(commit: str, ref: str = "main", repo: str = hubapi.REPO) -> None:
    path = repo_dir(repo) / "refs" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_ref(ref, repo) != commit:
        tmp = path.with_name(f".{ref}.{os.getpid()}.tmp")
        tmp.write_text(commit, encoding="ascii")
        os.replace(tmp, path)


def link_snapshot(commit: str, path: str, sha256: str, repo: str = hubapi.REPO) -> Path:
    """Point snapshots/<commit>/<path> at blobs/<sha256> with a relative symlink (copy where impossible)."""
    dest = snapshot_path(commit, path, repo)
    dest.parent.mkdir(parents=True, exist_ok=True)
    blob = blob_path(sha256, repo)
    target = os.path.relpath(blob, dest.parent)
    if dest.is_symlink() or dest.exists():
        if dest.is_symlink() and os.readlink(dest) == target:
            return dest
        dest.unlink()
    try:
        os.symlink(target, dest)
    except (OSError, NotImplementedError):  # e.g. Windows without developer mode
        try:
            os.link(blob, dest)
        except OSError:
            shutil.copyfile(blob, dest)
    return dest


def _snapshot_dirs(repo: str) -> list[Path]:
    root = repo_dir(repo) / "snapshots"
    try:
        dirs = [d for d in root.iterdir() if d.is_dir()]
    except OSError:
        return []
    main = read_ref("main", repo)
    dirs.sort(key=lambda d: (d.name != main, -d.stat().st_mtime))
    return dirs


def local_quants(
    repo: str = hubapi.REPO, sizes: dict[str, int] | None = None, sizes_commit: str | None = None
) -> dict[str, Path]:
    """Quant name → first shard of every complete quant in the cache (refs/main's snapshot first).

    Complete: every shard present and resolving to a non-empty blob (blobs only appear there after
    their sha256 was checked); when `sizes` (repo path → bytes, listed at `sizes_commit`) is given
    the sizes in that snapshot must match too.
    """
    found: dict[str, Path] = {}
    for snap in _snapshot_dirs(repo):
        check = sizes if sizes is not None and (sizes_commit is None or snap.name == sizes_commit) else None
        groups: dict[str, dict[int, tuple[int, Path]]] = {}
        for p in snap.rglob("*.gguf"):
            rel = p.relative_to(snap).as_posix()
            parsed = parse_gguf_path(rel, repo)
            if not parsed:
                continue
            name, index, count = parsed
            try:
                size = p.stat().st_size  # follows the symlink; raises when the blob is gone
            except OSError:
                continue
            if size == 0 or (check is not None and rel in check and check[rel] != size):
                continue
            groups.setdefault(name, {})[index] = (count, p)
        for name, shards in groups.items():
            if name in found:
                continue
            count = next(iter(shards.values()))[0]
            if sorted(shards) == list(range(1, count + 1)) and all(c == count for c, _ in shards.values()):
                found[name] = shards[1][1]
    return found


def find_local(
    quant_name: str, repo: str = hubapi.REPO, sizes: dict[str, int] | None = None, sizes_commit: str | None = None
) -> Path | None:
    local = local_quants(repo, sizes, sizes_commit)
    if quant_name in local:
        return local[quant_name]
    low = quant_name.lower()
    return next((p for n, p in local.items() if n.lower() == low), None)


def local_model_path(quant_name: str, repo: str = hubapi.REPO) -> Path | None:
    """First shard of `quant_name` when all its files are complete in the cache; never touches the network."""
    from glmchat.hub.catalog import Catalog

    cat = Catalog.cached(repo)
    sizes = {f.path: f.size for q in cat.quants for f in q.files} if cat else None
    return find_local(quant_name, repo, sizes, cat.commit if cat else None)
