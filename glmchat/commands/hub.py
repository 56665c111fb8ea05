"""`glmchat models` and `glmchat download`: the quant catalog and verified downloads."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer


def _vram_bytes() -> int:
    """Dedicated GPU memory llama.cpp reports (0 on CPU-only builds or when detection fails)."""
    try:
        from glmchat.engine.devices import detect

        return sum(d.total for d in detect().devices if d.kind == "GPU")
    except Exception:
        return 0


def _n_ctx(ctx: Optional[int]) -> int:
    if ctx:
        return ctx
    from glmchat.settings import load_settings

    return load_settings().model.n_ctx


def _remote_models(endpoint: str, as_json: bool) -> None:
    try:
        from glmchat.engine import remote
    except ImportError:
        from glmchat.errors import UsageError

        raise UsageError("Listing a remote server's models is not available in this build.", "Leave out --endpoint.") from None
    names = remote.list_models(endpoint)
    if as_json:
        from glmchat.engine.urls import shown_url

        typer.echo(json.dumps({"endpoint": shown_url(endpoint), "models": names}, indent=2))
    else:
        from glmchat.terminal_text import visible

        for name in names:  # a server's names: control characters made visible
            typer.echo(visible(name))


def models_report(n_ctx: int, ram: int, vram: int, offline: bool | None = None) -> dict[str, Any]:
    """The data behind `glmchat models` (also handy for the TUI)."""
    from glmchat.hub import Catalog, fits, local_quants, recommend, required_bytes

    catalog = Catalog.load(offline)
    local = local_quants()
    rec = recommend(catalog.quants, n_ctx, ram, vram)
    return {
        "repo": catalog.repo,
        "source": catalog.source,
        "commit": catalog.commit,
        "n_ctx": n_ctx,
        "ram_bytes": ram,
        "vram_bytes": vram,
        "recommended": rec.name,
        "quants": [
            {
                "name": q.name,
                "size": q.size,
                "bits_per_weight": q.bits_per_weight,
                "files": [f.to_dict() for f in q.files],
                "downloaded": q.name in local,
                "path": str(local[q.name]) if q.name in local else None,
                "nextn_layers": _nextn_layers(local[q.name]) if q.name in local else None,  # known once downloaded
                "needs_bytes": required_bytes(q, n_ctx),
                "fits": fits(q, n_ctx, ram, vram),
                "recommended": q.name == rec.name,
            }
            for q in catalog.quants
        ],
    }


def _nextn_layers(path: Any) -> int | None:
    """NextN (MTP) layers in a downloaded quant, from its header (milliseconds); None when unreadable."""
    from glmchat.engine.gguf_meta import GgufFormatError, nextn_layers, read_gguf

    try:
        return nextn_layers(read_gguf(path))
    except (GgufFormatError, OSError):
        return None


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(
        as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
        ctx: Optional[int] = typer.Option(None, "--ctx", min=256, help="Context size the fit check assumes (default: config)."),
        vram: Optional[float] = typer.Option(None, "--vram", min=0, help="GPU memory in GiB to count (default: detected)."),
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help="List the models an OpenAI-compatible server serves instead."),
    ) -> None:
        """List GLM-4.7-Flash quants: size, bits per weight, downloaded, fits this machine."""
        if endpoint:
            _remote_models(endpoint, as_json)
            return
        from glmchat.hub import system_ram_bytes
        from glmchat.units import GIB, size_text

        n_ctx = _n_ctx(ctx)
        vram_b = int(vram * GIB) if vram is not None else _vram_bytes()
        report = models_report(n_ctx, system_ram_bytes(), vram_b)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        from glmchat.terminal_text import visible  # names and paths come from the Hub and the disk

        table = Table(title=visible(report['repo']) + f" — fit for {size_text(report['ram_bytes'])} RAM + {size_text(vram_b)} VRAM at {n_ctx:,} tokens")
        for col, justify in (("quant", "left"), ("size", "right"), ("bits/weight", "right"), ("downloaded", "center"), ("fits", "center"), ("", "left")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for q in report["quants"]:
            table.add_row(
                visible(q["name"]) + (f" ({len(q['files'])} files)" if len(q["files"]) > 1 else ""),
                size_text(q["size"]),
                f"{q['bits_per_weight']:.2f}",
                ("yes · MTP" if q.get("nextn_layers") else "yes") if q["downloaded"] else "-",
                "yes" if q["fits"] else "no",
                "★ recommended" if q["recommended"] else "",
            )
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
        console.print(table)
        from glmchat.hub.hubapi import is_offline

        why = "HF_HUB_OFFLINE is set" if is_offline() else "Hub not reachable"
        if report["source"] == "cache":
            console.print(f"{why}: showing the catalog saved earlier.")
        elif report["source"] == "builtin":
            console.print(f"{why} and no saved catalog: names and sizes are approximate.")

    @app.command("download")
    def download_cmd(
        quant: Optional[str] = typer.Argument(None, help="Quant to download, e.g. UD-Q4_K_XL (default: the recommended one)."),
        ctx: Optional[int] = typer.Option(None, "--ctx", min=256, help="Context size the recommendation assumes."),
    ) -> None:
        """Download a quant (resumable, sha256-verified) into the Hugging Face cache; prints its path."""
        from glmchat.hub import Catalog, RichProgress, download, recommend, system_ram_bytes

        catalog = None
        if not quant:
            catalog = Catalog.load()
            quant = recommend(catalog.quants, _n_ctx(ctx), system_ram_bytes(), _vram_bytes()).name
            typer.echo(f"Recommended for this machine: {quant}", err=True)
        path = download(quant, RichProgress(), catalog=catalog)
        typer.echo(str(path))
