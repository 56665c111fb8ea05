"""The quants of unsloth/GLM-4.7-Flash-GGUF: listed from the Hub, cached, or from a built-in table.

A quant is one GGUF file in the repo root (`GLM-4.7-Flash-Q4_K_M.gguf`) or the shards of a split
file in a subfolder (`BF16/GLM-4.7-Flash-BF16-00001-of-00002.gguf`); llama.cpp loads a split model
through its first shard.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glmchat.errors import UsageError
from glmchat.hub import hubapi
from glmchat.hub.errors import HubError, HubUnreachable
from glmchat.hub.quant_names import model_prefix, parse_gguf_path

# ~30 B parameters: Q8_0 (8.5 bits per weight) is 29.65 GiB.
N_PARAMS = 30.0e9
RECOMMENDED = "UD-Q4_K_XL"

GIB = 1024**3

# Names Unsloth publishes for this model with approximate sizes in GiB; used when the Hub cannot be
# reached and nothing is cached. Sizes marked in the README are measured, the rest are estimates.
FALLBACK_GIB: dict[str, float] = {
    "UD-IQ1_S": 8.7, "UD-IQ1_M": 9.2, "UD-IQ2_XXS": 10.0, "UD-IQ2_M": 10.4, "Q2_K": 10.6,
    "Q2_K_L": 10.7, "UD-Q2_K_XL": 11.0, "UD-IQ3_XXS": 12.2, "Q3_K_S": 12.5, "Q3_K_M": 13.7,
    "UD-Q3_K_XL": 13.9, "IQ4_XS": 15.3, "IQ4_NL": 16.1, "Q4_0": 16.1, "Q4_K_S": 16.2,
    "UD-Q4_K_XL": 16.31, "Q4_K_M": 17.1, "Q4_1": 17.7, "Q5_K_S": 19.5, "Q5_K_M": 20.0,
    "UD-Q5_K_XL": 20.2, "Q6_K": 23.0, "UD-Q6_K_XL": 24.5, "Q8_0": 29.65, "UD-Q8_K_XL": 32.70,
    "BF16": 55.8,
}
FALLBACK_SPLIT: dict[str, int] = {"BF16": 2}


@dataclass(frozen=True)
class HubFile:
    path: str  # inside the repo, e.g. "BF16/GLM-4.7-Flash-BF16-00001-of-00002.gguf"
    size: int
    sha256: str | None  # None only in the built-in fallback table

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Quant:
    name: str
    files: list[HubFile]  # shards in order; the first is what llama.cpp opens
    size: int
    bits_per_weight: float

    @property
    def first_file(self) -> HubFile:
        return self.files[0]

    @property
    def split(self) -> bool:
        return len(self.files) > 1


def bits_per_weight(size: int) -> float:
    return round(size * 8 / N_PARAMS, 2)


def group_quants(files: list[HubFile], repo: str = hubapi.REPO) -> list[Quant]:
    """Group repo files into quants, smallest first; incomplete split sets are left out."""
    groups: dict[str, list[tuple[int, int, HubFile]]] = {}
    for f in files:
        parsed = parse_gguf_path(f.path, repo)
        if parsed:
            name, index, count = parsed
            groups.setdefault(name, []).append((index, count, f))
    quants = []
    for name, items in groups.items():
        items.sort(key=lambda t: (t[0], t[2].path))
        count = items[0][1]
        if [i for i, _, _ in items] != list(range(1, count + 1)):
            continue  # shards missing or duplicated (e.g. two folders): not loadable as one model
        shard_files = [f for _, _, f in items]
        size = sum(f.size for f in shard_files)
        quants.append(Quant(name, shard_files, size, bits_per_weight(size)))
    quants.sort(key=lambda q: (q.size, q.name))
    return quants


def fallback_files(repo: str = hubapi.REPO) -> list[HubFile]:
    prefix = model_prefix(repo)
    out = []
    for name, gib in FALLBACK_GIB.items():
        size = int(gib * GIB)
        n = FALLBACK_SPLIT.get(name, 1)
        if n == 1:
            out.append(HubFile(f"{prefix}{name}.gguf", size, None))
        else:
            out += [HubFile(f"{name}/{prefix}{name}-{i:05d}-of-{n:05d}.gguf", size // n, None) for i in range(1, n + 1)]
    return out


def _endpoint_key(endpoint: str) -> str:
    """A folder name for one Hub endpoint: its host (and port) readable, a hash telling apart the rest
    (scheme, path, credentials: never spelled in the name)."""
    host = urllib.parse.urlsplit(endpoint).netloc.rpartition("@")[2]
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", host).strip("._-")[:60] or "hub"
    return f"{host}-{hashlib.sha256(endpoint.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def _catalog_cache_path(repo: str, endpoint: str | None = None) -> Path:
    """Where the catalog of `repo` listed at `endpoint` (default: HF_ENDPOINT's) is kept: one file per
    endpoint, so a mirror's listing is never shown for the Hub (or the other way round)."""
    from glmchat.settings import cache_dir

    key = _endpoint_key(endpoint or hubapi.endpoint())
    return cache_dir() / "hub" / key / (repo.replace("/", "--") + ".json")


def _legacy_cache_path(repo: str) -> Path:
    """Where catalogs were kept before they were keyed by endpoint (read only when it names ours)."""
    from glmchat.settings import cache_dir

    return cache_dir() / "hub" / (repo.replace("/", "--") + ".json")


def _files_from_info(info: Any) -> list[HubFile] | None:
    """Files from /api/models/{repo}/revision/{rev}?blobs=true; None when sizes or hashes are missing."""
    siblings = info.get("siblings") if isinstance(info, dict) else None
    if not isinstance(siblings, list):
        return None
    files = []
    for s in siblings:
        path = s.get("rfilename")
        if not isinstance(path, str) or not path.lower().endswith(".gguf"):
            continue
        lfs = s.get("lfs") or {}
        sha, size = lfs.get("sha256"), lfs.get("size", s.get("size"))
        if not isinstance(sha, str) or not isinstance(size, int):
            return None
        files.append(HubFile(path, size, sha))
    return files


def _files_from_tree(repo: str, rev: str) -> list[HubFile]:
    """Files from the paginated tree API (fallback when the model info lacks LFS data)."""
    files: list[HubFile] = []
    path = f"/api/models/{repo}/tree/{urllib.parse.quote(rev, safe='')}?recursive=true&expand=false"
    for _ in range(1000):
        data, headers = hubapi.get_json(path, "the file list")
        for e in data if isinstance(data, list) else []:
            if e.get("type") == "file" and str(e.get("path", "")).lower().endswith(".gguf"):
                lfs = e.get("lfs") or {}
                sha = lfs.get("oid") or lfs.get("sha256")
                files.append(HubFile(e["path"], int(lfs.get("size", e.get("size", 0))), sha))
        nxt = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", "") or headers.get("link", ""))
        if not nxt:
            break
        url = nxt.group(1)
        path = url[len(hubapi.endpoint()):] if url.startswith(hubapi.endpoint()) else urllib.parse.urlsplit(url)._replace(scheme="", netloc="").geturl()
    return files


@dataclass
class Catalog:
    repo: str
    quants: list[Quant]
    commit: str | None = None
    source: str = "hub"  # hub | cache | builtin
    fetched_at: float | None = None
    endpoint: str = field(default_factory=hubapi.endpoint)

    # ---- loading -------------------------------------------------------------------------------------

    @classmethod
    def load(cls, offline: bool | None = None, repo: str = hubapi.REPO) -> "Catalog":
        """Fresh from the Hub when online (and cached); else the cached copy; else the built-in table.

        Offline defaults to HF_HUB_OFFLINE. Network failures fall back silently (see `source`);
        a missing repository or a refused token raise, since a cached list would hide them.
        """
        if offline is None:
            offline = hubapi.is_offline()
        if not offline:
            try:
                return cls.fetch(repo)
            except HubUnreachable:
                pass
        return cls.cached(repo) or cls.builtin(repo)

    @classmethod
    def fetch(cls, repo: str = hubapi.REPO, revision: str = "main") -> "Catalog":
        """List the repo on the Hub now and save the result for offline use. Raises HubError."""
        info, _ = hubapi.get_json(
            f"/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true", "catalog"
        )
        commit = info.get("sha") if isinstance(info, dict) else None
        if not isinstance(commit, str) or not commit:
            raise HubError(f"{hubapi.endpoint()} gave no commit for {repo}.", "Check HF_ENDPOINT points at a Hugging Face Hub.")
        files = _files_from_info(info)
        if files is None:
            files = _files_from_tree(repo, commit)
        cat = cls(repo, group_quants(files, repo), commit, "hub", time.time())
        if not cat.quants:
            raise HubError(f"{repo} on {cat.endpoint} holds no GGUF files.", "Check HF_ENDPOINT and the repository.")
        cat.save()
        return cat

    @classmethod
    def cached(cls, repo: str = hubapi.REPO) -> "Catalog | None":
        """The catalog saved when `repo` was last listed at the current endpoint (HF_ENDPOINT); None
        when there is none. A file from before catalogs were keyed by endpoint counts only when the
        endpoint it records is the current one; anything unreadable is ignored."""
        here = hubapi.endpoint()
        cat = cls._read_cache(_catalog_cache_path(repo, here), repo, here)
        if cat is None:
            legacy = _legacy_cache_path(repo)
            cat = cls._read_cache(legacy, repo, here)
            if cat is not None:
                cat.save()  # carried over to its endpoint's place
                try:
                    if _catalog_cache_path(repo, here).exists():
                        legacy.unlink(missing_ok=True)
                except OSError:
                    pass  # left where it was: read again next time, harmless
        return cat

    @classmethod
    def _read_cache(cls, path: Path, repo: str, endpoint: str) -> "Catalog | None":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if str(data.get("endpoint", "")).rstrip("/") != endpoint or data.get("repo", repo) != repo:
                return None  # listed elsewhere (or a legacy file without an endpoint): not this Hub's
            files = [HubFile(f["path"], int(f["size"]), f.get("sha256")) for f in data["files"]]
            quants = group_quants(files, repo)
            if not quants:
                return None
            fetched = data.get("fetched_at")
            return cls(repo, quants, data.get("commit"), "cache", fetched if isinstance(fetched, (int, float)) else None, endpoint)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    @classmethod
    def builtin(cls, repo: str = hubapi.REPO) -> "Catalog":
        return cls(repo, group_quants(fallback_files(repo), repo), None, "builtin", None)

    def save(self) -> None:
        path = _catalog_cache_path(self.repo, self.endpoint)
        data = {
            "repo": self.repo,
            "endpoint": self.endpoint,
            "commit": self.commit,
            "fetched_at": self.fetched_at,
            "files": [f.to_dict() for q in self.quants for f in q.files],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a cache we cannot write only costs a request next time

    # ---- lookups -------------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.quants]

    def find(self, name: str) -> Quant | None:
        for q in self.quants:
            if q.name == name:
                return q
        low = name.strip().lower()
        for q in self.quants:
            if q.name.lower() == low:
                return q
        return None

    def get(self, name: str) -> Quant:
        """The quant called `name` (case-insensitive); UsageError listing known names, closest first."""
        q = self.find(name)
        if q is not None:
            return q
        key = name.strip().upper()
        ranked = sorted(self.names, key=lambda n: (-difflib.SequenceMatcher(None, key, n.upper()).ratio(), n))
        raise UsageError(
            f"Unknown quant {name!r} for {self.repo}.",
            "Known quants (closest first): " + ", ".join(ranked) + ".",
        )
