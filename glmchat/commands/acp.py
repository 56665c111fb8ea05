"""`glmchat acp`: glmchat's agent over the Agent Client Protocol on stdin/stdout, for editors (Zed, …).

Same model options as `ask`; the engine opens once, at the first session, and never downloads.
The agent itself is glmchat.acp.agent; this module builds its sessions (history, tools, workspace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def acp_command(
    model: Annotated[Path | None, typer.Option("--model", "-m", help="A GGUF file to run (default: the configured model).")] = None,
    quant: Annotated[str | None, typer.Option("--quant", "-q", help="The hub quant to run (e.g. Q4_K_M).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="An OpenAI-compatible server to use instead of a local model.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="The sampling profile.")] = None,
    n_ctx: Annotated[int | None, typer.Option("--ctx", help="Context size in tokens.")] = None,
    speculative: Annotated[str | None, typer.Option("--speculative", help="Speculative decoding: auto, ngram, off or mtp (a local model only).")] = None,
) -> None:
    """Serve glmchat's agent over ACP on stdio (an editor starts this; see README "Use glmchat from your editor")."""
    import asyncio

    from glmchat.errors import UsageError

    try:
        import acp  # noqa: F401
    except ImportError:
        raise SystemExit("glmchat acp needs the ACP SDK: pip install 'glmchat[acp]'") from None
    from glmchat.acp.agent import GlmchatAgent

    if model and endpoint:
        raise UsageError("--model and --endpoint disagree.", "Use a local file or a server, not both.")
    _check_pipes()
    sessions = SessionFactory(model, quant, endpoint, profile, n_ctx, speculative)
    agent = GlmchatAgent(sessions.open, sessions.history)
    try:
        asyncio.run(_serve(agent))
    finally:
        agent.close()
        sessions.close()


def _check_pipes() -> None:
    """stdin and stdout must be pipes, sockets or terminals (an editor's pipes), not files."""
    import os
    import stat
    import sys

    from glmchat.errors import UsageError

    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        try:
            mode = os.fstat(stream.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            mode = 0
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise UsageError(f"glmchat acp needs {name} to be a pipe; it is not.",
                             "An editor starts `glmchat acp` with pipes on stdin and stdout (see the README).")


async def _serve(agent: Any) -> None:
    from acp import run_agent

    from glmchat.acp.stdio_guard import guarded_stdio

    reader, writer, pump = await guarded_stdio()  # only JSON objects of bounded size reach the SDK
    try:
        await run_agent(agent, writer, reader)
    finally:
        pump.cancel()


class SessionFactory:
    """Makes ChatSessions for the agent: one history, one engine (opened at the first session)."""

    def __init__(self, model: Path | None, quant: str | None, endpoint: str | None, profile: str | None,
                 n_ctx: int | None, speculative: str | None = None) -> None:
        from glmchat.commands.common import apply_speculative
        from glmchat.settings import load_settings
        from glmchat.tools.sandbox import use_settings

        self.model, self.quant, self.endpoint, self.profile, self.n_ctx = model, quant, endpoint, profile, n_ctx
        self.settings = load_settings()
        use_settings(self.settings)
        if profile:
            self.settings.profile(profile)  # an unknown profile fails now
        apply_speculative(self.settings, speculative)  # and an unknown mode
        self.engine: Any = None
        self._history: Any = None
        self._mcp: list[Any] = []  # the MCP managers of the servers clients passed, stopped in close()

    def history(self) -> Any:
        from glmchat.history import History

        if self._history is None:
            self._history = History()
        return self._history

    def open(self, root: Path, conversation_id: int | None, mcp_servers: Any = None) -> Any:
        """A tool-on ChatSession in workspace `root` (conversation `conversation_id` continued, when given),
        with the tools of the user's [mcp.servers] (started with the first session, for the whole process)
        and of the MCP servers the client passed (`mcp_servers`, connected for this session)."""
        from glmchat.acp.mcp_servers import start_client_servers
        from glmchat.mcp.manager import start_servers
        from glmchat.mcp.tools import add_running_servers
        from glmchat.session import ChatSession
        from glmchat.tools import ToolRegistry, Workspace

        if self.engine is None:
            start_servers(self.settings)  # the user's own servers start while the model loads
            self.engine = self._open_engine()
        registry = add_running_servers(ToolRegistry.builtin(self.settings.tools.web))
        manager = start_client_servers(mcp_servers, self.settings.mcp.timeout, registry)
        if manager is not None:
            self._mcp.append(manager)
        return ChatSession(self.engine, self.settings, store=self.history().store, conversation_id=conversation_id,
                           profile=self.profile, tools=registry, tools_enabled=True,
                           workspace=Workspace(root), approver=None, approve_policy=self.settings.tools.approve)

    def _open_engine(self) -> Any:
        from glmchat.engine.factory import open_engine
        from glmchat.run_settings import EngineChoice

        choice = EngineChoice(model=self.model, quant=self.quant, endpoint=self.endpoint, n_ctx=self.n_ctx)
        return open_engine(self.settings, **choice.prepare(self.settings), download=False)

    def close(self) -> None:
        from glmchat.mcp.manager import stop_servers

        for manager in self._mcp:  # stdio servers end with their sessions: no orphan processes
            manager.stop()
        stop_servers()  # and the user's [mcp.servers]
        if self.engine is not None:
            self.engine.close()
        if self._history is not None:
            self._history.close()


def register(app: typer.Typer) -> None:
    app.command("acp")(acp_command)
