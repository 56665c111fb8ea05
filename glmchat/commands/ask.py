"""`glmchat ask`: one question, headless; the answer streams to stdout.

glmchat/cli.py's `ask` command gathers its options into an `AskOptions` and calls `run_ask`, which
opens the history, the engine and a `ChatSession`, sends the prompt and writes the session's events
through one `EventPrinter`. Only cli.py's `ask` imports this module (inside the command), so the
session and engine modules it imports here never slow `glmchat --help`.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from glmchat.commands.ask_input import gather_input, mentions_and_command
from glmchat.commands.common import apply_placement, apply_speculative, err, open_workspace, stderr_progress
from glmchat.commands.event_printer import EventPrinter
from glmchat.commands.jsonl_printer import JsonlPrinter
from glmchat.engine.base import CancelToken, Engine
from glmchat.engine.factory import open_engine
from glmchat.errors import GlmchatError, ModelError, UsageError
from glmchat.history import History
from glmchat.hub.errors import NotDownloaded
from glmchat.run_settings import EngineChoice, continue_on
from glmchat.session import ChatSession, thinking_flags
from glmchat.settings import Settings, load_settings
from glmchat.terminal_text import is_terminal, visible_json
from glmchat.tools import ToolRegistry, headless_approval
from glmchat.tools.modes import check_mode
from glmchat.tools.sandbox import use_settings

INTERRUPTED = 130  # exit code after Ctrl-C (the partial answer is kept)
TIMING_KEYS = ("time_to_first_token", "prompt_time", "generation_time", "prompt_tokens_per_second",
               "generation_tokens_per_second", "draft_tokens", "accepted_draft_tokens")


@dataclass
class AskOptions:
    """The command line of `glmchat ask`, one field per option (see `glmchat ask --help`)."""

    prompt: Optional[str] = None  # None: read from stdin
    model: Optional[Path] = None
    quant: Optional[str] = None
    endpoint: Optional[str] = None
    profile: Optional[str] = None
    system: Optional[str] = None
    max_tokens: Optional[int] = None
    seed: Optional[int] = None
    n_ctx: Optional[int] = None
    no_think: bool = False
    think: Optional[str] = None
    show_thinking: bool = False
    as_json: bool = False
    continue_last: bool = False
    no_history: bool = False
    tools: bool = False
    yes: bool = False
    workspace: Optional[Path] = None
    gpu_layers: Optional[str] = None
    speculative: Optional[str] = None  # --speculative: auto | off | ngram | mtp
    cpu_moe: Optional[str] = None
    verbose: bool = False
    temperature: Optional[float] = None  # --temperature/--top-p/--top-k/--min-p: this call only
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    min_p: Optional[float] = None
    conversation: Optional[int] = None  # continue this conversation
    files: list[str] = field(default_factory=list)  # -f PATH[:A-B], attached as /read does
    download: bool = False  # consent to fetch a missing hub quant (never by default)
    mode: str = "default"  # agent mode (glmchat.tools.modes): default | accept-edits | plan
    as_jsonl: bool = False  # --jsonl: every event as a JSON line (glmchat.commands.jsonl_printer)


def _expand_mcp_prompt(asked: Any, settings: Any) -> None:
    """A question `/mcp__server__prompt args` → the prompt's text (glmchat.mcp.prompts); the servers it
    started are stopped again when it fails (after the answer, `_stream` stops them)."""
    from glmchat.mcp.manager import stop_servers
    from glmchat.mcp.prompts import expand_question

    try:
        text = expand_question(asked.question, settings)
    except BaseException:
        stop_servers()
        raise
    if text is not None:
        asked.question = text


def run_ask(opts: AskOptions) -> int:
    """Answer one question; returns the exit code (0, or 130 after Ctrl-C). Raises GlmchatError."""
    mode = thinking_mode(opts)
    overrides = sampling_overrides(opts)
    check_output_and_mode(opts)
    asked = gather_input(opts.prompt, opts.files)  # stdin and -f files read (and refused) before the model loads
    command = mentions_and_command(asked, open_workspace(opts.workspace))  # @files attached, /NAME expanded
    if command is not None:  # its front matter: its profile unless --profile; tools: true turns tools on
        opts.profile, opts.tools = opts.profile or command.profile, opts.tools or bool(command.tools)
    settings = _settings(opts, mode)
    history, conv_id = _open_history(opts)
    registry, ws = None, open_workspace(opts.workspace)  # tools off too: its AGENTS.md go into the system prompt
    if opts.tools:
        registry = ToolRegistry.builtin(settings.tools.web)
        from glmchat.mcp.manager import start_servers  # [mcp.servers]: started now, stopped after the turn
        from glmchat.mcp.tools import add_running_servers

        if start_servers(settings) is not None:
            add_running_servers(registry)
    if command is None:
        _expand_mcp_prompt(asked, settings)
    engine = _open_engine(settings, opts, continue_on(history, conv_id, settings, model=opts.model, quant=opts.quant,
                                                      endpoint=opts.endpoint, n_ctx=opts.n_ctx))
    session = _start_session(engine, settings, opts, mode, history, conv_id, registry, ws)
    if overrides:  # in memory only: the profile's values for this one call, never written back
        settings.profiles[session.profile] = replace(settings.profile(session.profile), **overrides)
    for label, text in asked.attachments:
        session.attach(label, text)
    if opts.as_jsonl:
        printer: EventPrinter = JsonlPrinter(sys.stdout, sys.stderr)
    else:
        printer = EventPrinter(sys.stdout, sys.stderr, show_thinking=opts.show_thinking, as_json=opts.as_json)
    interrupted = _stream(session, engine, asked.question, printer)
    return _report(printer, session, engine, opts.as_json, interrupted, recorded=history is not None)


# ---- before the model loads: options, settings, history ------------------------------------------


SAMPLING_FLAGS = {"temperature": "--temperature", "top_p": "--top-p", "top_k": "--top-k", "min_p": "--min-p"}


def sampling_overrides(opts: AskOptions) -> dict[str, Any]:
    """--temperature/--top-p/--top-k/--min-p given, checked against config.toml's ranges (UsageError)."""
    import math

    from glmchat.settings import PROFILE_KEYS

    out: dict[str, Any] = {}
    for key, flag in SAMPLING_FLAGS.items():
        value = getattr(opts, key)
        if value is None:
            continue
        finite = isinstance(value, (int, float)) and math.isfinite(value)
        problem = PROFILE_KEYS[key](value) if finite else "must be a finite number"
        if problem:
            raise UsageError(f"{flag} {value}: {problem}.", "Ranges: temperature 0-5, top-p 0-1, top-k 0 or more (0 off), min-p 0-1.")
        out[key] = value
    return out


def check_output_and_mode(opts: AskOptions) -> None:
    """--json and --jsonl exclude each other; --mode must be a known mode (UsageError, exit 2)."""
    if opts.as_json and opts.as_jsonl:
        raise UsageError("--json and --jsonl disagree.", "Use --json for one object at the end, --jsonl for a line per event.")
    check_mode(opts.mode)


def thinking_mode(opts: AskOptions) -> Optional[str]:
    """The thinking mode asked for (None: the conversation's or the settings'); checks clashing options."""
    if opts.no_think and opts.think and opts.think != "off":
        raise UsageError("--no-think and --think disagree.", "Use one of them.")
    if opts.model and opts.endpoint:
        raise UsageError("--model and --endpoint disagree.", "Use a local file or a server, not both.")
    return "off" if opts.no_think else opts.think


def _settings(opts: AskOptions, mode: Optional[str]) -> Settings:
    settings = load_settings()
    use_settings(settings)  # [tools] sandbox, network, env_allow for the tool processes
    apply_placement(settings, opts.gpu_layers, opts.cpu_moe)
    apply_speculative(settings, opts.speculative)
    if opts.profile:
        settings.profile(opts.profile)
    if mode:
        thinking_flags(mode)  # a bad --think fails before the model loads
    return settings


def _open_history(opts: AskOptions) -> tuple[Optional[History], Optional[int]]:
    """(history, id of the conversation to continue); (None, None) with --no-history."""
    if opts.conversation is not None and opts.continue_last:
        raise UsageError("--continue and --conversation disagree.", "Use one of them: -c is the most recent conversation.")
    if opts.no_history:
        if opts.continue_last or opts.conversation is not None:
            raise UsageError(f"{'--continue' if opts.continue_last else '--conversation'} needs the history.", "Drop --no-history.")
        return None, None
    history = History()
    if history.notice:
        err(history.notice)
    if opts.conversation is not None:
        return history, _existing(history, opts.conversation)
    recent = history.most_recent() if opts.continue_last else None
    return history, (recent.id if recent else None)


def _existing(history: History, cid: int) -> int:
    """`cid` when that conversation exists; UsageError (exit 2) naming how to find the IDs."""
    from glmchat.store import NotFoundError

    try:
        return history.get(cid).id
    except NotFoundError:
        history.close()
        raise UsageError(f"There is no conversation {cid}.", "glmchat history list shows the IDs.") from None


# ---- the model and the session -------------------------------------------------------------------


def _open_engine(settings: Settings, opts: AskOptions, choice: EngineChoice) -> Engine:
    """The engine `choice` names; with --jsonl a failure is also reported as error and done lines."""
    try:
        return _load_engine(settings, opts, choice)
    except GlmchatError as exc:
        if opts.as_jsonl:
            JsonlPrinter(sys.stdout, sys.stderr).failed_before_the_turn(exc.message, exc.hint)
        raise


def _load_engine(settings: Settings, opts: AskOptions, choice: EngineChoice) -> Engine:
    """The engine `choice` names: the options given, else what the continued conversation ran on."""
    progress = stderr_progress() if sys.stderr.isatty() else None
    try:
        return open_engine(settings, **choice.prepare(settings), verbose=opts.verbose, progress=progress,
                           download=opts.download)
    except NotDownloaded as exc:  # never fetched without consent: name this command's way to give it
        exc.hint = f"{exc.hint} Or add --download to this command to fetch it first."
        raise
    except OSError as exc:  # e.g. a parent directory without search permission
        where = exc.filename or opts.model or "the model file"
        raise ModelError(f"Cannot open {where}: {exc.strerror or exc}.", "Check the path and its permissions.") from None
    finally:
        if progress:
            progress(1.0, "")


def _start_session(engine: Engine, settings: Settings, opts: AskOptions, mode: Optional[str],
                   history: Optional[History], conv_id: Optional[int], registry: Any, ws: Any) -> ChatSession:
    """The session for this question; closes the engine when it cannot be made."""
    # --yes: every tool call runs; without it write/execute calls are denied, even with [tools] approve = "auto"
    approval = headless_approval(opts.yes, settings.tools.approve)
    try:
        session = ChatSession(
            engine,
            settings,
            store=history.store if history is not None else None,
            conversation_id=conv_id,
            profile=opts.profile,
            thinking=mode,
            system_prompt=opts.system,
            max_tokens=opts.max_tokens,
            seed=opts.seed,
            tools=registry,
            tools_enabled=opts.tools,
            workspace=ws,
            approver=approval.approver,
            approve_policy=approval.policy,
        )
        session.approval.set_mode(opts.mode)
        if conv_id is not None:  # options given now win over what the continued conversation had
            if mode and mode != session.thinking:
                session.set_thinking(mode)
            if opts.profile and opts.profile != session.profile:
                session.set_profile(opts.profile)
            if opts.system is not None and opts.system != session.system_prompt:
                session.set_system_prompt(opts.system)
    except BaseException:
        engine.close()
        raise
    return session


# ---- streaming -----------------------------------------------------------------------------------


class CtrlC:
    """SIGINT handler for one turn: the first Ctrl-C cancels generation cleanly, a second one aborts."""

    def __init__(self, cancel: CancelToken) -> None:
        self.cancel = cancel
        self.interrupted = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        self.cancel.cancel()


def _stream(session: ChatSession, engine: Engine, prompt: str, printer: EventPrinter) -> bool:
    """Send `prompt`, print its events, title a new conversation; then close session and engine.
    True when Ctrl-C stopped it."""
    cancel = CancelToken()
    ctrl_c = CtrlC(cancel)
    old = signal.signal(signal.SIGINT, ctrl_c)
    try:
        for ev in session.send(prompt, cancel):
            printer.handle(ev)
        finished = printer.finished
        if finished and finished.status == "complete" and session.wants_model_title():
            session.generate_title(cancel)
    finally:
        signal.signal(signal.SIGINT, old)
        session.close()  # KV snapshot for instant resume with `ask -c`
        engine.close()
        printer.end_thinking_line()
        from glmchat.mcp.manager import stop_servers  # no MCP server process outlives the run

        stop_servers()
    return ctrl_c.interrupted


# ---- after the turn ------------------------------------------------------------------------------


def ask_json(printer: EventPrinter, session: ChatSession, engine: Engine) -> dict[str, Any]:
    """The one object `glmchat ask --json` prints: answer, thinking, tool calls, usage, timings, status."""
    finished, failed = printer.finished, printer.failed
    usage = finished.usage if finished else session.last_usage
    u = usage.to_dict() if usage else {}
    obj = {
        "answer": printer.answer,
        "thinking": "".join(printer.thinking_parts),
        "tool_calls": printer.tool_calls,
        "usage": {k: v for k, v in u.items() if k not in TIMING_KEYS},
        "timings": {k: u[k] for k in TIMING_KEYS if k in u},
        "model": engine.info.model,
        "quant": engine.info.quant,
        "backend": engine.info.backend,
        "profile": session.profile,
        "thinking_mode": session.thinking,
        "sampling": session.sampling().to_dict(),  # what this call used (the profile with any overrides)
        "status": failed and "error" or (finished.status if finished else "cancelled"),
        "conversation_id": session.conversation_id,
    }
    if failed:
        obj["error"] = failed.message
    return obj


def _report(printer: EventPrinter, session: ChatSession, engine: Engine, as_json: bool, interrupted: bool,
            recorded: bool) -> int:
    """End stdout (the --json object, or the answer's last newline), then say how the turn ended."""
    out = printer.out
    if isinstance(printer, JsonlPrinter):
        failed, finished = printer.failed, printer.finished
        printer.done(failed and "error" or (finished.status if finished else "cancelled"), session.conversation_id)
    elif as_json:
        text = json.dumps(ask_json(printer, session, engine), ensure_ascii=False)
        out.write((visible_json(text) if is_terminal(out) else text) + "\n")
    elif printer.answer_parts and not printer.answer.endswith("\n"):
        out.write("\n")
    out.flush()
    failed, finished = printer.failed, printer.finished
    if failed:
        raise GlmchatError(failed.message, failed.hint)
    if interrupted:
        err("Stopped (Ctrl-C); the partial answer is kept" + (" in the history." if recorded else "."))
        return INTERRUPTED
    if finished and finished.status == "length":
        why = finished.usage.note or f"the token limit: {finished.usage.completion_tokens} tokens"
        err(f"[stopped at {why}]")
    return 0
