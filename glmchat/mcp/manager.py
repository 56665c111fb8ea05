"""McpManager: the MCP client sessions, on one background asyncio thread, for a synchronous glmchat.

Each enabled server gets a task on the manager's loop that connects (stdio: the command is started;
HTTP: the url is opened, headers read from the environment variables `headers_env` names), lists its
tools and then holds the connection until `stop()`. Callers on other threads (the session's worker, the
`ask` command) block on `call()` with a timeout and a cancel check. A server that cannot start, dies or
stops answering gives one notice (`take_notices()`) and leaves the others working. `stop()` closes
every session, which ends the stdio server processes (also at interpreter exit, as a backstop).

One manager runs per process: `start_servers(settings)` starts it, `running()` finds it, `stop_servers()`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glmchat.mcp.config import ServerConfig, servers_from
from glmchat.tools.base import is_cancelled
from glmchat.tools.workspace import ToolError

START_GRACE = 1.0  # seconds wait_ready() waits past the start-up timeout, so a server that missed it is reported


@dataclass
class ServerState:
    """One configured server as the manager sees it."""

    config: ServerConfig
    status: str = "starting"  # starting | ready | failed | stopped | disabled
    error: str | None = None
    tools: list[Any] = field(default_factory=list)  # mcp_types.Tool, as listed by the server
    prompts: list[Any] = field(default_factory=list)  # mcp_types.Prompt (when the server offers prompts)
    client: Any = None
    settled: threading.Event = field(default_factory=threading.Event)  # set once ready or failed
    stop: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self.config.name


def describe_error(exc: BaseException) -> str:
    """One line for what went wrong (the first leaf of an exception group; never a traceback)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class McpManager:
    """The configured servers, connected in the background; calls from any thread."""

    def __init__(self, servers: list[ServerConfig], timeout: float = 60.0, log_dir: Path | None = None) -> None:
        self.timeout = timeout
        self.log_dir = log_dir
        self.states: dict[str, ServerState] = {s.name: ServerState(s) for s in servers}
        self._notices: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        self._logs: list[Any] = []

    # ---- lifetime -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and connect every enabled server (returns at once)."""
        self._started_at = time.monotonic()
        for st in self.states.values():
            if not st.config.enabled:
                st.status = "disabled"
                st.settled.set()
        loop = asyncio.new_event_loop()  # also with every server disabled: /mcp enable starts one later
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="glmchat-mcp", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_all(), loop).result(10)

    async def _start_all(self) -> None:
        for st in self.states.values():
            if st.config.enabled:
                self._launch(st)

    def _launch(self, st: ServerState) -> None:
        st.stop = asyncio.Event()
        self._tasks.append(asyncio.get_running_loop().create_task(self._serve(st)))

    def restart(self, name: str, wait: bool = True) -> ServerState:
        """(Re)start one server for this run — /mcp reconnect NAME, /mcp enable NAME — after stopping
        what runs of it; waits (at most the timeout) until it is ready or failed when `wait`."""
        self.disable(name)
        st = ServerState(self.states[name].config)
        self.states[name] = st
        loop = self._loop
        assert loop is not None
        loop.call_soon_threadsafe(self._launch, st)
        if wait:
            st.settled.wait(self.timeout + START_GRACE)
        return st

    def disable(self, name: str) -> None:
        """Stop one server for this run (its tools are no longer offered); KeyError for an unknown name."""
        st = self.states[name]
        if self._loop is None:
            raise ToolError("The MCP servers are not running.", "Restart glmchat.")
        if st.stop is not None:
            self._loop.call_soon_threadsafe(st.stop.set)
        st.status = "disabled"
        st.settled.set()

    def wait_ready(self, budget: float | None = None) -> None:
        """Wait for the servers still starting, at most until `budget` seconds (default: the timeout)
        after start(); afterwards this never waits."""
        deadline = self._started_at + (self.timeout + START_GRACE if budget is None else budget)
        for st in self.states.values():
            st.settled.wait(max(0.0, deadline - time.monotonic()))

    def starting(self) -> tuple[list[str], float]:
        """(the servers still starting, seconds wait_ready() would still wait for them)."""
        names = [st.name for st in self.states.values() if not st.settled.is_set()]
        return names, max(0.0, self._started_at + self.timeout + START_GRACE - time.monotonic())

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session (stdio servers end) and the loop thread. Safe to call more than once."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_all(timeout), loop).result(timeout + 2)
        except Exception:  # noqa: BLE001, S110 - stopping never fails glmchat's exit; the loop stops below
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        for log in self._logs:
            log.close()

    async def _stop_all(self, timeout: float) -> None:
        for st in self.states.values():
            if st.stop is not None:
                st.stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)

    # ---- one server's connection --------------------------------------------------------------

    def _target(self, cfg: ServerConfig, stack: AsyncExitStack) -> Any:
        if cfg.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(command=cfg.command, args=cfg.args, env=cfg.env or None)
            return stdio_client(params, errlog=self._errlog(cfg.name))
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = {h: os.environ.get(var, "") for h, var in cfg.headers_env.items()} | cfg.headers
        http = create_mcp_http_client(headers=headers or None)
        stack.push_async_callback(http.aclose)
        return streamable_http_client(cfg.url or "", http_client=http)

    def _errlog(self, name: str) -> Any:
        """Where a stdio server's stderr goes: a log file, never the terminal (the TUI owns it)."""
        if self.log_dir is None:
            log = open(os.devnull, "w")  # noqa: SIM115 - the server process writes to it; closed by stop()
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        self._logs.append(log)
        return log

    async def _serve(self, st: ServerState) -> None:
        try:
            import anyio
            from mcp import Client
        except ImportError:
            self._fail(st, "the MCP SDK is not installed (pip install 'glmchat[mcp]')")
            return

        try:
            # the scope encloses the connection's whole life (the SDK's task groups must exit inside the
            # scopes they were entered in); a server not ready within the timeout is failed at once
            # (its notice does not wait for the process to be stopped) and the scope cancelled
            with anyio.CancelScope() as scope:
                timer = asyncio.get_running_loop().call_later(self.timeout, self._give_up, st, scope)
                try:
                    async with AsyncExitStack() as stack:
                        client = Client(self._target(st.config, stack), cache=None)  # any transport context manager
                        await stack.enter_async_context(client)
                        st.tools = await _list_all(client.list_tools, "tools")
                        if client.server_capabilities.prompts is not None:
                            st.prompts = await _list_all(client.list_prompts, "prompts")
                        timer.cancel()
                        st.client, st.status = client, "ready"
                        st.settled.set()
                        assert st.stop is not None
                        await st.stop.wait()
                finally:
                    timer.cancel()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - any failure is this server's, never glmchat's
            if st.status not in ("failed", "disabled"):
                self._fail(st, describe_error(exc))
        finally:
            st.client = None
            if st.status in ("starting", "ready"):
                st.status = "stopped"
            st.settled.set()

    def _give_up(self, st: ServerState, scope: Any) -> None:
        if st.status == "starting":
            self._fail(st, f"it did not start within {self.timeout:.3g} s ([mcp] timeout)")
            scope.cancel()

    def _fail(self, st: ServerState, why: str) -> None:
        """Mark a server failed with one notice; its connection task then unwinds."""
        already = st.status == "failed"
        st.status, st.error = "failed", why
        st.settled.set()
        if st.stop is not None:
            st.stop.set()
        if not already:
            with self._lock:
                self._notices.append(f"MCP server {st.name!r} is not available: {why}. "
                                     "Its tools are left out; check [mcp.servers." + st.name + "] in config.toml.")

    def take_notices(self) -> list[str]:
        """The notices since the last call (each failure once)."""
        with self._lock:
            out, self._notices = self._notices, []
        return out

    # ---- calls --------------------------------------------------------------------------------

    def call(self, server: str, tool: str, arguments: dict[str, Any], timeout: float, cancel: Any = None) -> Any:
        """Call one tool (blocking); → the SDK's CallToolResult. Raises ToolError when the server is
        not running, dies during the call, does not answer within `timeout` or the call is cancelled."""
        st = self._ready(server)
        return self._wait(self._call(st, tool, arguments), server, tool, timeout, cancel)

    def get_prompt(self, server: str, prompt: str, arguments: dict[str, str], timeout: float | None = None) -> Any:
        """One prompt's messages (blocking); → the SDK's GetPromptResult. Raises ToolError as call() does."""
        st = self._ready(server)

        async def get() -> Any:
            try:
                return await st.client.get_prompt(prompt, arguments)
            except Exception as exc:  # noqa: BLE001 - said to the user as this prompt's error
                raise ToolError(f"MCP server {server!r} failed the prompt {prompt}: {describe_error(exc)}.") from None

        return self._wait(get(), server, prompt, self.timeout if timeout is None else timeout, None)

    def _ready(self, server: str) -> ServerState:
        st = self.states.get(server)
        if st is None or self._loop is None or st.status != "ready" or st.client is None:
            why = st.error if st is not None and st.error else "it is not running"
            raise ToolError(f"MCP server {server!r} is not available ({why}).", "Use another tool, or restart glmchat.")
        return st

    def _wait(self, coro: Any, server: str, what: str, timeout: float, cancel: Any) -> Any:
        """Run `coro` on the loop and wait for it, checking `cancel` (Esc) and the timeout."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return future.result(timeout=0.05)
            except concurrent.futures.TimeoutError:
                if is_cancelled(cancel):
                    future.cancel()  # the task is cancelled; the SDK tells the server (notifications/cancelled)
                    raise ToolError("Cancelled by the user.", "The MCP call was stopped before it finished.") from None
                if time.monotonic() >= deadline:
                    future.cancel()
                    raise ToolError(f"MCP server {server!r} did not answer {what} within {timeout:.3g} s.",
                                    "Try again with a smaller request, or raise [mcp] timeout in config.toml.") from None
            except concurrent.futures.CancelledError:
                raise ToolError("Cancelled by the user.", "The MCP call was stopped before it finished.") from None

    async def _call(self, st: ServerState, tool: str, arguments: dict[str, Any]) -> Any:
        try:
            return await st.client.call_tool(tool, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the SDK raises is this call's error, said to the model
            why = describe_error(exc)
            if "closed" in why.lower() or not _alive(st):
                self._fail(st, f"it stopped during a call ({why})")
                raise ToolError(f"MCP server {st.name!r} stopped during the {tool} call ({why}).",
                                "Its tools are left out for the rest of this run.") from None
            raise ToolError(f"MCP server {st.name!r} failed the {tool} call: {why}.") from None


def _alive(st: ServerState) -> bool:
    return st.client is not None and st.status == "ready"


async def _list_all(list_page: Any, attr: str) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(100):  # pages; a server that pages forever is cut off
        page = await list_page(cursor=cursor)
        items.extend(getattr(page, attr))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


# ---- the process's manager --------------------------------------------------------------------

_running: McpManager | None = None


def start_servers(settings: Any) -> McpManager | None:
    """Start the configured MCP servers in the background (None when none is configured)."""
    global _running
    mcp = getattr(settings, "mcp", None)
    servers = servers_from(getattr(mcp, "servers", None) or {})
    if not servers:
        return None
    stop_servers()
    from glmchat.settings import cache_dir

    _running = McpManager(servers, mcp.timeout, cache_dir() / "mcp")
    _running.start()
    return _running


def running() -> McpManager | None:
    return _running


def stop_servers() -> None:
    global _running
    manager, _running = _running, None
    if manager is not None:
        manager.stop()


atexit.register(stop_servers)
