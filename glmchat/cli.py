"""The `glmchat` command. Thin: options in, calls into the layers below, exit codes out.

Exit codes: 0 ok, 1 model/engine/config error, 2 usage error, 130 interrupted (Ctrl-C).
Heavy modules (llama_cpp, textual, sqlite work) are imported inside the commands so that
`glmchat --help` and `--version` answer at once.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from glmchat import __version__
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


def _apply_placement(settings, gpu_layers: Optional[str], cpu_moe: Optional[str]) -> None:
    """--gpu-layers / --cpu-moe onto the settings (validated like config.toml values)."""
    for name, value, words in (("gpu_layers", gpu_layers, ("auto", "all")), ("cpu_moe", cpu_moe, ("all",))):
        if value is None:
            continue
        if value.isdigit():
            setattr(settings.model, name, int(value))
        elif value in words:
            setattr(settings.model, name, value)
        else:
            raise UsageError(f"--{name.replace('_', '-')} {value!r} is not valid.", f"Use a number or {' / '.join(words)}.")


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
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Open the chat TUI (when no command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("The chat TUI needs a terminal (stdin or stdout is not one).", 'For scripts and pipes use: glmchat ask "…" (see glmchat ask --help).')
    from glmchat.engine.factory import open_engine
    from glmchat.settings import load_settings
    from glmchat.store import Store
    from glmchat.tui.app import run_app

    settings = load_settings()
    _apply_placement(settings, gpu_layers, cpu_moe)
    if profile:
        settings.profile(profile)
        settings.chat.profile = profile
    store = Store()
    ws = _workspace(workspace)

    def engine_factory(progress, download_progress=None):  # the TUI passes its download panel's progress
        return open_engine(
            settings, model=model, quant=quant, endpoint=endpoint, n_ctx=n_ctx, verbose=verbose, progress=progress,
            interactive=False, download_progress=download_progress,
        )

    def model_factory(path, progress):  # /model: switch to another GGUF in the background
        return open_engine(settings, model=path, n_ctx=n_ctx, verbose=verbose, progress=progress, interactive=False)

    code = run_app(
        settings,
        engine_factory=engine_factory,
        model_factory=model_factory,
        store=store,
        conversation_id=conversation,
        continue_last=continue_last,
        tools_enabled=tools or settings.tools.enabled,
        workspace=ws,
    )
    raise typer.Exit(code or 0)


def _workspace(path: Optional[Path]):
    from glmchat.tools import Workspace

    root = (path or Path.cwd()).expanduser()
    if not root.is_dir():
        raise UsageError(f"Workspace {root} is not a directory.", "Pass an existing directory to --workspace.")
    return Workspace(root)


@app.command()
def ask(
    prompt: Optional[str] = typer.Argument(None, help="The question. Read from stdin when omitted."),
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
    continue_last: bool = typer.Option(False, "--continue", "-c", help="Continue the most recent conversation."),
    no_history: bool = typer.Option(False, "--no-history", help="Do not record this exchange."),
    tools: bool = typer.Option(False, "--tools", help="Let the model call tools; write/execute tools need --yes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Allow write and execute tools without asking."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Directory tools may touch (default: current directory)."),
    gpu_layers: Optional[str] = GPU_LAYERS_OPT,
    cpu_moe: Optional[str] = CPU_MOE_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Ask one question headless; the answer streams to stdout."""
    if prompt is None:
        if sys.stdin.isatty():
            raise UsageError("No question given.", 'Pass it as an argument (glmchat ask "…") or on stdin.')
        prompt = sys.stdin.read().rstrip("\n")
    if not prompt.strip():
        raise UsageError("The question is empty.", 'Pass some text: glmchat ask "…".')
    if no_think and think and think != "off":
        raise UsageError("--no-think and --think disagree.", "Use one of them.")
    if model and endpoint:
        raise UsageError("--model and --endpoint disagree.", "Use a local file or a server, not both.")
    mode = "off" if no_think else think

    from glmchat.engine.base import CancelToken
    from glmchat.engine.factory import open_engine
    from glmchat.errors import ModelError
    from glmchat.session import (
        Approval,
        ChatSession,
        Notice,
        ToolResultEvent,
        TurnFailed,
        TurnFinished,
        TurnStarted,
        thinking_flags,
    )
    from glmchat.glm import Answer, IncompleteToolCall, Thinking, ToolCall
    from glmchat.settings import load_settings

    settings = load_settings()
    _apply_placement(settings, gpu_layers, cpu_moe)
    if profile:
        settings.profile(profile)
    if mode:
        thinking_flags(mode)  # a bad --think fails before the model loads
    store = None
    conv_id = None
    if not no_history:
        from glmchat.store import Store

        store = Store()
        if store.notice:
            _err(store.notice)
        if continue_last:
            recent = store.most_recent()
            conv_id = recent.id if recent else None
    elif continue_last:
        raise UsageError("--continue needs the history.", "Drop --no-history.")

    registry = ws = None
    if tools:
        from glmchat.tools import ToolRegistry

        registry, ws = ToolRegistry.builtin(), _workspace(workspace)

    progress = _stderr_progress() if sys.stderr.isatty() else None
    try:
        engine = open_engine(settings, model=model, quant=quant, endpoint=endpoint, n_ctx=n_ctx, verbose=verbose, progress=progress)
    except OSError as exc:  # e.g. a parent directory without search permission
        where = exc.filename or model or "the model file"
        raise ModelError(f"Cannot open {where}: {exc.strerror or exc}.", "Check the path and its permissions.") from None
    finally:
        if progress:
            progress(1.0, "")
    try:
        session = ChatSession(
            engine,
            settings,
            store=store,
            conversation_id=conv_id,
            profile=profile,
            thinking=mode,
            system_prompt=system,
            max_tokens=max_tokens,
            seed=seed,
            tools=registry,
            tools_enabled=tools,
            workspace=ws,
            approver=(lambda call, risk, preview: Approval("allow_once")) if yes else None,
            approve_policy="auto" if yes else None,
        )
        if conv_id is not None:  # options given now win over what the continued conversation had
            if mode and mode != session.thinking:
                session.set_thinking(mode)
            if profile and profile != session.profile:
                session.set_profile(profile)
            if system is not None and system != session.system_prompt:
                session.set_system_prompt(system)
    except BaseException:
        engine.close()
        raise

    cancel = CancelToken()
    interrupted = False

    def on_sigint(signum, frame):  # first Ctrl-C stops generation cleanly, a second one aborts
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        cancel.cancel()

    old = signal.signal(signal.SIGINT, on_sigint)
    out, err = sys.stdout, sys.stderr
    dim = "\x1b[2m" if err.isatty() else ""
    reset = "\x1b[0m" if dim else ""
    finished: TurnFinished | None = None
    failed: TurnFailed | None = None
    all_calls: list[dict] = []
    thinking_open = False
    answer_parts: list[str] = []
    thinking_parts: list[str] = []
    try:
        for ev in session.send(prompt, cancel):
            if isinstance(ev, Thinking):
                thinking_parts.append(ev.text)
                if show_thinking:
                    err.write(dim + ev.text + reset)
                    err.flush()
                    thinking_open = True
            elif isinstance(ev, Answer):
                answer_parts.append(ev.text)
                if thinking_open:
                    err.write("\n")
                    thinking_open = False
                if not as_json:
                    out.write(ev.text)
                    out.flush()
            elif isinstance(ev, ToolCall):
                all_calls.append({"name": ev.name, "arguments": ev.arguments})
                if not as_json:
                    err.write(f"\n[tool call] {ev.name} {json.dumps(ev.arguments, ensure_ascii=False)}\n")
            elif isinstance(ev, IncompleteToolCall):
                err.write(f"\n[incomplete tool call, not run] {ev.raw[:200]}\n")
            elif isinstance(ev, ToolResultEvent):
                if not as_json:
                    head = ev.output.strip().splitlines()[:1]
                    err.write(f"[tool {ev.decision}] {ev.call.name}: {head[0][:120] if head else ''}\n")
            elif isinstance(ev, Notice):
                err.write(f"{ev.text}\n")
            elif isinstance(ev, TurnFinished):
                finished = ev
            elif isinstance(ev, TurnFailed):
                failed = ev
            elif isinstance(ev, TurnStarted):
                pass
        if finished and finished.status == "complete" and session.wants_model_title():
            session.generate_title(cancel)
    finally:
        signal.signal(signal.SIGINT, old)
        session.close()  # KV snapshot for instant resume with `ask -c`
        engine.close()
        if thinking_open:  # the thinking never ended: finish its line before anything else goes to stderr
            err.write("\n")
            err.flush()

    if as_json:
        usage = finished.usage if finished else session.last_usage
        u = usage.to_dict() if usage else {}
        timing_keys = ("time_to_first_token", "prompt_time", "generation_time", "prompt_tokens_per_second", "generation_tokens_per_second")
        obj = {
            "answer": "".join(answer_parts),
            "thinking": "".join(thinking_parts),
            "tool_calls": all_calls,
            "usage": {k: v for k, v in u.items() if k not in timing_keys},
            "timings": {k: u[k] for k in timing_keys if k in u},
            "model": engine.info.model,
            "quant": engine.info.quant,
            "backend": engine.info.backend,
            "profile": session.profile,
            "thinking_mode": session.thinking,
            "status": failed and "error" or (finished.status if finished else "cancelled"),
            "conversation_id": session.conversation_id,
        }
        if failed:
            obj["error"] = failed.message
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    elif answer_parts and not "".join(answer_parts).endswith("\n"):
        out.write("\n")
    out.flush()
    if failed:
        raise GlmchatError(failed.message, failed.hint)
    if interrupted:
        _err("Interrupted; the partial answer is kept" + (" in the history." if store else "."))
        raise typer.Exit(130)
    if finished and finished.status == "length":
        why = finished.usage.note or f"the token limit: {finished.usage.completion_tokens} tokens"
        _err(f"[stopped at {why}]")


def _stderr_progress():
    state = {"last": -1}

    def progress(fraction: float, text: str) -> None:
        pct = int(fraction * 100)
        if pct == state["last"] and text:
            return
        state["last"] = pct
        if fraction >= 1.0 and not text:
            sys.stderr.write("\r\x1b[K")
        else:
            bar = "█" * (pct // 5) + "·" * (20 - pct // 5)
            sys.stderr.write(f"\r\x1b[K{text} {bar} {pct:3d}%")
        sys.stderr.flush()

    return progress


@app.command()
def config(as_json: bool = typer.Option(False, "--json", help="Print the paths and settings as JSON.")) -> None:
    """Show where glmchat keeps things and the settings in effect."""
    from glmchat import settings as s

    cfg = s.load_settings()
    paths = {
        "config file": str(cfg.path) + ("" if cfg.exists else "  (not created; defaults in effect)"),
        "config dir": str(s.config_dir()),
        "data dir": str(s.data_dir()),
        "cache dir": str(s.cache_dir()),
        "conversations": str(s.db_path()),
        "llama.cpp log": str(s.log_path()),
    }
    data = cfg.as_dict()
    if as_json:
        typer.echo(json.dumps({"paths": paths, "settings": data}, indent=2, default=str))
        return
    width = max(map(len, paths))
    typer.echo("Paths")
    for k, v in paths.items():
        typer.echo(f"  {k:<{width}}  {v}")
    typer.echo("\nSettings in effect")
    for section, values in data.items():
        if section == "profiles":
            for name, prof in values.items():
                typer.echo(f"  [profiles.{name}]  " + ", ".join(f"{k}={v}" for k, v in prof.items()))
            continue
        if not values:
            continue
        typer.echo(f"  [{section}]  " + ", ".join(f"{k}={v!r}" for k, v in values.items()))


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


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
        _err(f"glmchat: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err("Aborted.")
        sys.exit(130)
    except click_exc.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click_exc.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
