"""Pick and open the engine a command asked for: a remote endpoint, a local GGUF, or a hub quant."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from glmchat.engine.base import Engine
from glmchat.settings import Settings

Progress = Callable[[float, str], None]

def resolve_model_path(
    settings: Settings,
    *,
    model: str | Path | None = None,
    quant: str | None = None,
    interactive: bool = False,
    download_progress: object | None = None,
    download: bool = False,
) -> Path:
    """--model PATH, else config's model.path, else a downloaded (or now downloaded) hub quant.

    A quant that is not on disk is fetched only with consent (see `glmchat.hub.ensure_model`): the
    user's `download` flag, the caller's `download_progress` that offers it first (the TUI's panel),
    or a yes on the terminal when `interactive`; else `NotDownloaded` (exit 1) names quant, size, command.
    """
    if model:
        return Path(model).expanduser()
    if settings.model.path and not quant:
        return Path(settings.model.path).expanduser()
    from glmchat import hub

    return hub.ensure_model(quant or settings.model.quant, interactive=interactive, progress=download_progress,
                            consent=download)


def open_engine(
    settings: Settings,
    *,
    model: str | Path | None = None,
    quant: str | None = None,
    endpoint: str | None = None,
    n_ctx: int | None = None,
    verbose: bool = False,
    progress: Progress | None = None,
    interactive: bool = False,
    download_progress: object | None = None,
    download: bool = False,
) -> Engine:
    """The engine for these options. A missing hub quant: see `resolve_model_path` (headless callers
    never download without `download=True`)."""
    endpoint = endpoint or settings.remote.base_url
    if endpoint and not model:
        from glmchat.engine.remote import RemoteEngine
        from glmchat.engine.urls import shown_url

        if progress:
            progress(0.0, f"Connecting to {shown_url(endpoint)}…")
        engine = RemoteEngine.from_settings(settings.remote, base_url=endpoint)
        if progress:
            progress(1.0, "Connected")
        return engine

    path = resolve_model_path(settings, model=model, quant=quant, interactive=interactive,
                              download_progress=download_progress, download=download)
    from glmchat.engine.local import LocalEngine

    n_ctx = n_ctx or settings.model.n_ctx
    plan = plan_placement(path, settings, n_ctx)
    load_progress = (lambda f: progress(f, "Loading model…")) if progress else None
    engine = LocalEngine.load(
        path,
        n_ctx=n_ctx,
        n_threads=settings.model.threads,
        n_gpu_layers=plan.n_gpu_layers if plan else 0,
        flash_attn=(plan.flash_attn if plan else None) if settings.model.flash_attn else False,
        kv_cache_type=settings.model.kv_cache_type,
        verbose=verbose,
        progress=load_progress,
        tensor_overrides=[(pattern, "CPU") for pattern in plan.overrides] if plan else None,
        speculative=settings.model.speculative,
        backend_sampling=settings.model.backend_sampling,
    )
    if plan is not None:
        engine.info.details["plan"] = plan.summary()
        engine.info.details["plan_reason"] = plan.reason
    return engine


def plan_placement(path: Path, settings: Settings, n_ctx: int):
    """The offload plan for this file on this machine (None when the header cannot be read)."""
    from glmchat.engine.devices import detect
    from glmchat.engine.gguf_meta import GgufFormatError, read_gguf
    from glmchat.engine.planner import layout_from_gguf, plan_for_machine

    try:
        layout = layout_from_gguf(read_gguf(path))
    except (GgufFormatError, OSError):
        return None
    m = settings.model
    return plan_for_machine(layout, detect(), n_ctx=n_ctx, kv_type=m.kv_cache_type, gpu_layers=m.gpu_layers, cpu_moe=m.cpu_moe,
                            backend_sampling=m.backend_sampling, speculative=m.speculative)
