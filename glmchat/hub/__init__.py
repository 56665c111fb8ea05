"""The model hub: catalog of Unsloth's GLM-4.7-Flash GGUF quants, fit checks, verified downloads.

Public API (what the CLI and the TUI call):

    Catalog.load(offline=None) -> Catalog      .quants, .get(name), .find(name), .source
    local_model_path(quant_name) -> Path | None
    download(quant_name, progress=None, cancel=None) -> Path   (first shard)
    ensure_model(quant_name, *, interactive, progress=None, consent=False) -> Path   (NotDownloaded without consent)
    fits(quant, n_ctx, ram_bytes, vram_bytes) / recommend(quants, n_ctx, ram_bytes, vram_bytes)
    DownloadProgress (callbacks) / RichProgress (bars on stderr)
"""

from __future__ import annotations

from glmchat.hub.cache import hub_cache_dir, local_model_path, local_quants
from glmchat.hub.catalog import RECOMMENDED, Catalog, HubFile, Quant
from glmchat.hub.downloader import download
from glmchat.hub.errors import (
    ChecksumError,
    DiskFullError,
    DownloadCancelled,
    DownloadError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnreachable,
    NotDownloaded,
    OfflineError,
)
from glmchat.hub.firstrun import ensure_model
from glmchat.hub.fit import fits, kv_cache_bytes, recommend, required_bytes, system_ram_bytes
from glmchat.hub.hubapi import REPO
from glmchat.hub.progress import DownloadProgress, RichProgress

__all__ = [
    "REPO", "RECOMMENDED", "Catalog", "HubFile", "Quant", "download", "ensure_model", "local_model_path",
    "local_quants", "hub_cache_dir", "fits", "recommend", "required_bytes", "kv_cache_bytes", "system_ram_bytes",
    "DownloadProgress", "RichProgress", "HubError", "HubAuthError", "HubNotFoundError", "HubUnreachable",
    "OfflineError", "NotDownloaded", "DownloadError", "ChecksumError", "DiskFullError", "DownloadCancelled",
]
