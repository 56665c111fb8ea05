"""`glmchat serve`: the model behind an OpenAI-compatible HTTP API (glmchat.serve), for other tools."""

from __future__ import annotations

from pathlib import Path

import typer

MODEL_OPT = typer.Option(None, "--model", "-m", help="Path to a local GGUF file (any model llama.cpp loads).")
QUANT_OPT = typer.Option(None, "--quant", "-q", help="Unsloth quant of GLM-4.7-Flash to use (already downloaded).")
ENDPOINT_OPT = typer.Option(None, "--endpoint", help="Proxy an OpenAI-compatible server instead, e.g. http://host:8000/v1.")
CTX_OPT = typer.Option(None, "--ctx", help="Context size in tokens (default 16384).", min=256)
PROFILE_OPT = typer.Option(None, "--profile", "-p", help="Sampling profile for what a request leaves out: general, tool, ...")
SPECULATIVE_OPT = typer.Option(None, "--speculative", help="Speculative decoding: auto, ngram, off or mtp (a local model only).")


def serve(
    model: Path | None = MODEL_OPT,
    quant: str | None = QUANT_OPT,
    endpoint: str | None = ENDPOINT_OPT,
    n_ctx: int | None = CTX_OPT,
    profile: str | None = PROFILE_OPT,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Require 'Authorization: Bearer <key>', the key read from this environment variable."),
    queue: int = typer.Option(4, "--queue", min=0, help="Requests that may wait while one generates (then 429)."),
    speculative: str | None = SPECULATIVE_OPT,
) -> None:
    """Serve the model over an OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions."""
    import os

    from glmchat.errors import UsageError

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise UsageError(f"The environment variable {api_key_env} is not set.", "Set it to the key clients must send, or drop --api-key-env.")
    _run(model, quant, endpoint, n_ctx, profile, host, port, key, queue, speculative)


def _run(model: Path | None, quant: str | None, endpoint: str | None, n_ctx: int | None, profile: str | None,
         host: str, port: int, key: str | None, queue: int, speculative: str | None = None) -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        from glmchat.errors import UsageError

        raise UsageError("glmchat serve needs starlette and uvicorn, which are not installed.", "pip install 'glmchat[serve]'") from None

    from glmchat.commands.common import apply_speculative, err
    from glmchat.engine.factory import open_engine
    from glmchat.private_files import private_dir
    from glmchat.serve.app import Server
    from glmchat.settings import data_dir, load_settings

    settings = load_settings()
    settings.profile(profile)  # an unknown profile fails before the model loads
    apply_speculative(settings, speculative)  # and an unknown mode
    engine = open_engine(settings, model=model, quant=quant, endpoint=endpoint, n_ctx=n_ctx, download=False)
    try:
        log = private_dir(data_dir()) / "serve.log"
        server = Server(engine, settings, profile=profile, api_key=key, queue_size=queue, log_path=log)
        err(f"Serving {server.model} on http://{host}:{port}/v1 (request log: {log}). Ctrl-C stops.")
        uvicorn.run(server.app(), host=host, port=port, log_level="warning")
    finally:
        engine.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
