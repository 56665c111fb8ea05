"""`glmchat doctor`: backend, devices, memory, model files and the offload plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        model: Optional[Path] = typer.Option(None, "--model", "-m", help="Check this GGUF and plan for it."),
        n_ctx: Optional[int] = typer.Option(None, "--ctx", min=256, help="Context to plan for (default: config, 16384)."),
        verify: bool = typer.Option(False, "--verify", help="Also hash downloaded files against the Hub's sha256 (slow)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Check this machine, the llama.cpp build and the model files; show the offload plan."""
        import json

        from glmchat import doctor as doc
        from glmchat.settings import load_settings

        settings = load_settings()
        if model is None and settings.model.path:  # the model glmchat would run: config.toml's [model] path
            model = Path(settings.model.path).expanduser()
        rep = doc.report(
            model,
            n_ctx or settings.model.n_ctx,
            kv_type=settings.model.kv_cache_type,
            gpu_layers=settings.model.gpu_layers,
            cpu_moe=settings.model.cpu_moe,
            verify=verify,
            settings=settings,
        )
        from glmchat.terminal_text import visible

        # file names and GGUF metadata are not glmchat's: their control characters are made visible
        typer.echo(json.dumps(rep, indent=2, default=str) if as_json else visible(doc.render(rep)))
        if any(not f.get("ok") for f in rep["model_files"]):
            raise typer.Exit(1)
