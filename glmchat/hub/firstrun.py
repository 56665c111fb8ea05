"""First run: find a downloaded quant, or offer the recommended one and download it."""

from __future__ import annotations

import sys
from pathlib import Path

from glmchat.hub import cache, hubapi
from glmchat.hub.catalog import Catalog, Quant
from glmchat.hub.errors import ChecksumError, DownloadCancelled, NotDownloaded, OfflineError
from glmchat.hub.progress import DownloadProgress
from glmchat.units import size_text


def _default_ctx() -> int:
    try:
        from glmchat.settings import load_settings

        return load_settings().model.n_ctx
    except Exception:  # a broken config is reported by whoever loads it for real
        return 16384


def _ask(question: str) -> bool:
    """Yes/no on stderr, default yes; EOF counts as yes."""
    sys.stderr.write(question + " [Y/n] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return True
    return answer.strip().lower() not in ("n", "no")


def _can_ask(interactive: bool) -> bool:
    try:
        return interactive and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _size_note(quant: Quant | None, catalog: Catalog) -> str:
    """'16.3 GiB', or what is known of the size when the Hub's list could not be read."""
    if quant is None:
        return "size unknown"
    if catalog.source == "builtin":  # offline (or the Hub unreachable) and no saved list
        return f"about {size_text(quant.size)}; the exact size is unknown until the Hub can be reached"
    return size_text(quant.size)


def _pick(catalog: Catalog, n_ctx: int, vram_bytes: int) -> Quant:
    from glmchat.hub.fit import recommend

    return recommend(catalog.quants, n_ctx, vram_bytes=vram_bytes)


def ensure_model(
    quant_name: str | None,
    *,
    interactive: bool,
    progress: DownloadProgress | None = None,
    n_ctx: int | None = None,
    vram_bytes: int = 0,
    consent: bool = False,
) -> Path:
    """Path of a usable GLM-4.7-Flash GGUF, downloading one if needed.

    * `quant_name` given: that quant from the cache, else downloaded.
    * None: a downloaded quant (the recommended one if present), else the recommended quant for
      this machine, downloaded.
    A missing quant (many GiB) is fetched only with consent, never by a headless command on its own:
    when `interactive` and stdin is a terminal, a yes to the question on stderr; otherwise `consent`
    (the user's flag, e.g. `glmchat ask --download`) or a `progress` of the caller's own, which
    offers the download in `on_start` and raises DownloadCancelled on no (the TUI's panel). Without
    one of them NotDownloaded says which quant, its size and the command that fetches it (exit 1).
    HF_HUB_OFFLINE=1 uses the cache only and says so when the file is missing.
    """
    from glmchat.hub.downloader import download
    from glmchat.hub.progress import RichProgress

    offline = hubapi.is_offline()
    n_ctx = n_ctx or _default_ctx()
    catalog: Catalog | None = None
    if quant_name:
        local = cache.local_model_path(quant_name)
        if local is not None:
            return local
        catalog = Catalog.load()  # offline: the saved or built-in list, no request
        name = catalog.get(quant_name).name  # unknown names fail before anything is asked
        question = f"GLM-4.7-Flash {name} is not downloaded yet."
    else:
        catalog = Catalog.load()
        local_all = cache.local_quants()
        if local_all:
            best = _pick(catalog, n_ctx, vram_bytes)
            if best.name in local_all:
                return local_all[best.name]
            size_of = {q.name: q.size for q in catalog.quants}
            return local_all[max(local_all, key=lambda n: size_of.get(n, 0))]
        name = _pick(catalog, n_ctx, vram_bytes).name
        question = "No GLM-4.7-Flash model downloaded yet."

    assert catalog is not None
    quant = catalog.find(name)
    if offline:
        raise OfflineError(
            f"GLM-4.7-Flash {name} ({_size_note(quant, catalog)}) is not in the Hugging Face cache "
            f"({cache.hub_cache_dir()}) and HF_HUB_OFFLINE is set.",
            f"Unset HF_HUB_OFFLINE and run `glmchat download {name}`, or pass --model PATH to a GGUF file.",
        )
    if _can_ask(interactive):
        if not _ask(f"{question} Download {name} ({_size_note(quant, catalog)}) from {hubapi.REPO}?"):
            raise DownloadCancelled("Download declined; no model to run.", "Pass --model PATH, or run `glmchat download QUANT`.")
    elif not (consent or progress is not None):
        raise NotDownloaded(
            f"{question} The quant to fetch is {name} ({_size_note(quant, catalog)}); "
            "glmchat does not start a download this size by itself.",
            f"Download it with `glmchat download {name}` (it resumes if stopped), or pass --model PATH to a GGUF file.",
            quant=name, size=quant.size if quant else None,
        )
    elif progress is None:  # a caller's own progress (the TUI's panel) shows the offer itself
        sys.stderr.write(f"Downloading GLM-4.7-Flash {name} ({_size_note(quant, catalog)}) from {hubapi.REPO}…\n")
    progress = progress or RichProgress()
    try:
        return download(name, progress, catalog=catalog)
    except ChecksumError as exc:
        if not _can_ask(interactive) or not _ask(f"{exc.message} Download it again?"):
            raise
        return download(name, progress, catalog=catalog)
