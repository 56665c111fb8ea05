"""The `glmchat` command. Thin: options in, calls into the layers below, exit codes out.

Exit codes: 0 ok, 1 model/engine/config error, 2 usage error, 130 interrupted (Ctrl-C).
Heavy modules (llama_cpp, textual, sqlite work) are imported inside the commands so that
`glmchat --help` and `--version` answer at once.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from glmchat import __version__
from glmchat.commands.common import apply_placement, apply_speculative, err, open_workspace
from glmchat.errors import GlmchatError, UsageError

app = typer.Typer(
    name="glmchat",
    help="Chat with GLM-4.7-Flash in your terminal: a keyboard-driven TUI, a headless `ask`, tools for coding.",
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"glmchat {__version__}")
        raise typer.Exit()


# readable=False: an unreadable file is a model error (exit 1, with a hint), checked by the engine
MODEL_OPT = typer.Option(None, "--model", "-m", readable=False, help="Path to a local GGUF file (any model llama.cpp loads).")
QUANT_OPT = typer.Option(None, "--quant", "-q", help="Unsloth quant of GLM-4.7-Flash to use/download, e.g. UD-Q4_K_XL.")
ENDPOINT_OPT = typer.Option(None, "--endpoint", help="Use an OpenAI-compatible server (vLLM, SGLang, llama-server), e.g. http://host:8000/v1.")
CTX_OPT = typer.Option(None, "--ctx", help="Context size in tokens (default 16384, up to the model's 202,752).", min=256)
PROFILE_OPT = typer.Option(None, "--profile", "-p", help="Sampling profile: general, tool, or one from config.toml.")
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="Also show llama.cpp's own log on stderr.")
GPU_LAYERS_OPT = typer.Option(None, "--gpu-layers", help="Layers on the GPU: a number, auto (planned) or all.")
CPU_MOE_OPT = typer.Option(None, "--cpu-moe", help="Keep the routed experts of the first N layers (or all) in RAM.")
SPECULATIVE_OPT = typer.Option(None, "--speculative", help="Speculative decoding: auto, ngram, off or mtp (GLM's NextN layer; n-gram on files without one).")


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    model: Optional[Path] = MODEL_OPT,
    quant: Optional[str] = QUANT_OPT,
    endpoint: Optional[str] = ENDPOINT_OPT,
    n_ctx: Optional[int] = CTX_OPT,
    profile: Optional[str] = PROFILE_OPT,
    continue_last: bool = typer.Option(False, "--continue", "-c", help="Reopen the most recent conversation."),
    conversation: Optional[int] = typer.Option(None, "--conversation", help="Open conversation ID."),
    tools: bool = typer.Option(False, "--tools", help="Let the model call tools (file reading, edits, shell) with approval."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Directory tools may touch (default: current directory)."),
    gpu_layers: Optional[str] = GPU_LAYERS_OPT,
    cpu_moe: Optional[str] = CPU_MOE_OPT,
    speculative: Optional[str] = SPECULATIVE_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Open the chat TUI (when no command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("The chat TUI needs a terminal (stdin or stdout is not one).", 'For scripts and pipes use: glmchat ask "…" (see glmchat ask --help).')
    from glmchat.engine.factory import open_engine
    from glmchat.history import History
    from glmchat.run_settings import continue_on
    from glmchat.settings import load_settings
    from glmchat.tools.sandbox import use_settings
    from glmchat.tui.app import run_app

    settings = load_settings()
    use_settings(settings)  # [tools] sandbox, network, env_allow: every tool process and /run, /py
    apply_placement(settings, gpu_layers, cpu_moe)
    apply_speculative(settings, speculative)
    if profile:
        settings.profile(profile)
        settings.chat.profile = profile
    history = History()
    ws = open_workspace(workspace)
    if continue_last and conversation is None:
        recent = history.most_recent()
        conversation = recent.id if recent else None
    # a reopened conversation runs on what it ran on (a file that is gone: exit 1), unless options say otherwise
    engine_args = continue_on(history, conversation, settings, model=model, quant=quant, endpoint=endpoint,
                              n_ctx=n_ctx).prepare(settings)
    if profile and conversation is not None:
        history.keep_profile(conversation, profile)  # an explicit --profile wins over the conversation's

    def engine_factory(progress, download_progress=None):  # the TUI passes its download panel's progress
        return open_engine(settings, **engine_args, verbose=verbose, progress=progress, interactive=False,
                           download_progress=download_progress)

    def model_factory(path, progress):  # /model: switch to another GGUF in the background
        return open_engine(settings, model=path, n_ctx=engine_args["n_ctx"], verbose=verbose, progress=progress,
                           interactive=False)

    code = run_app(
        settings,
        engine_factory=engine_factory,
        model_factory=model_factory,
        history=history,
        conversation_id=conversation,
        continue_last=continue_last,
        tools_enabled=tools or settings.tools.enabled,
        workspace=ws,
    )
    raise typer.Exit(code or 0)


@app.command()
def ask(
    prompt: Optional[str] = typer.Argument(None, help="The question. Read from stdin when omitted; with it, piped stdin is sent after it."),
    model: Optional[Path] = MODEL_OPT,
    quant: Optional[str] = QUANT_OPT,
    endpoint: Optional[str] = ENDPOINT_OPT,
    profile: Optional[str] = PROFILE_OPT,
    system: Optional[str] = typer.Option(None, "--system", "-s", help="System prompt."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Stop after this many generated tokens."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Sampling seed (repeatable output)."),
    n_ctx: Optional[int] = CTX_OPT,
    no_think: bool = typer.Option(False, "--no-think", help="Turn thinking off for this answer."),
    think: Optional[str] = typer.Option(None, "--think", help="Thinking mode: on, off or preserve."),
    show_thinking: bool = typer.Option(False, "--show-thinking", help="Print the model's thinking to stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with answer, thinking, tool calls, usage and timings."),
    as_jsonl: bool = typer.Option(False, "--jsonl", help="Print each event as a JSON line as it happens (answer, tool_call, tool_result, usage, done…)."),
    continue_last: bool = typer.Option(False, "--continue", "-c", help="Continue the most recent conversation."),
    conversation: Optional[int] = typer.Option(None, "--conversation", help="Continue conversation ID (glmchat history list)."),
    no_history: bool = typer.Option(False, "--no-history", help="Do not record this exchange."),
    files: Optional[list[str]] = typer.Option(None, "--file", "-f", metavar="PATH", help="Attach a text file (PATH or PATH:A-B lines), as /read does; repeatable."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature, 0-5 (this call only; default: the profile's)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Nucleus sampling, 0-1 (this call only)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Top-k sampling, 0 = off (this call only)."),
    min_p: Optional[float] = typer.Option(None, "--min-p", help="Min-p sampling, 0-1 (this call only)."),
    tools: bool = typer.Option(False, "--tools", help="Let the model call tools; write/execute tools need --yes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Allow write and execute tools without asking."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Directory tools may touch (default: current directory)."),
    mode: str = typer.Option("default", "--mode", help="Agent mode: default, accept-edits (edits in the workspace run unasked) or plan (read tools only)."),
    download: bool = typer.Option(False, "--download", help="Download the GLM-4.7-Flash quant first if it is not on disk (never by default)."),
    gpu_layers: Optional[str] = GPU_LAYERS_OPT,
    cpu_moe: Optional[str] = CPU_MOE_OPT,
    speculative: Optional[str] = SPECULATIVE_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Ask one question headless; the answer streams to stdout.

    `printf code | glmchat ask "Explain this"` sends the question, then the piped text (at most 1 MiB;
    bytes that are not UTF-8 arrive as U+FFFD, binary input is refused). Without a model on disk it
    says which quant to download and exits 1, unless --download consents.

    On a terminal, control characters and escape sequences in the model's text (and in tool output)
    are shown made visible (ESC as ␛); to a pipe or a file the answer is written unchanged, byte for byte.
    """
    from glmchat.commands.ask import AskOptions, run_ask

    code = run_ask(AskOptions(
        prompt=prompt, model=model, quant=quant, endpoint=endpoint, profile=profile, system=system,
        max_tokens=max_tokens, seed=seed, n_ctx=n_ctx, no_think=no_think, think=think, show_thinking=show_thinking,
        as_json=as_json, continue_last=continue_last, no_history=no_history, tools=tools, yes=yes,
        workspace=workspace, gpu_layers=gpu_layers, cpu_moe=cpu_moe, verbose=verbose, temperature=temperature,
        top_p=top_p, top_k=top_k, min_p=min_p, conversation=conversation, files=files or [], download=download,
        mode=mode, as_jsonl=as_jsonl, speculative=speculative,
    ))
    if code:
        raise typer.Exit(code)


def _register_commands() -> None:
    from glmchat.commands import MODULES

    for name in MODULES:
        try:
            mod = importlib.import_module(f"glmchat.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"glmchat.commands.{name}":
                continue
            raise
        mod.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
        from typer._click import exceptions as click_exc
    except ImportError:  # pragma: no cover
        from click import exceptions as click_exc

    try:
        rv = app(args=argv, standalone_mode=False)
    except GlmchatError as exc:
        err(f"glmchat: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err("Aborted.")
        sys.exit(130)
    except click_exc.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click_exc.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
