"""`GlmchatAgent`: the ACP `Agent` (acp SDK) over glmchat's ChatSession, one per `session/new` or `session/load`.

The asyncio side answers the client; every blocking step (opening the engine, a turn, the history)
runs on one worker thread, so turns never overlap on the one engine. A turn's events go back to the
loop one at a time (glmchat.acp.updates turns them into session updates); an approval the session
asks for becomes `session/request_permission`, awaited from the worker thread. Everything the client
sends is checked: a bad request gets a JSON-RPC error, never a crash.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import (
    PROTOCOL_VERSION,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptResponse,
    RequestError,
)
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    Implementation,
    McpCapabilities,
    PermissionOption,
    PromptCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    ToolCallUpdate,
)

from glmchat.acp.updates import EventTranslator, replay, title_of, tool_kind
from glmchat.engine.base import CancelToken
from glmchat.errors import GlmchatError
from glmchat.session_events import TurnFailed
from glmchat.tools.modes import LABELS, MODES
from glmchat.tools.policy import Decision

MAX_PROMPT_CHARS = 1_000_000  # a prompt larger than this is refused (invalid params)
PERMISSION_OPTIONS = [
    PermissionOption(option_id="allow_once", name="Allow once", kind="allow_once"),
    PermissionOption(option_id="allow_session", name="Allow for this session", kind="allow_always"),
    PermissionOption(option_id="deny", name="Deny", kind="reject_once"),
]


def invalid(message: str) -> RequestError:
    return RequestError.invalid_params({"message": message})


def failed(exc: GlmchatError) -> RequestError:
    data = {"message": exc.message}
    if exc.hint:
        data["hint"] = exc.hint
    return RequestError.internal_error(data)


@dataclass
class AcpSession:
    """One client session: its ChatSession, the cancel token of the running turn, its tool-call ids."""

    chat: Any  # glmchat.session.ChatSession
    translator: EventTranslator = field(default_factory=EventTranslator)
    cancel: CancelToken | None = None
    busy: bool = False


class GlmchatAgent:
    """The ACP agent. `open_session(cwd, conversation_id)` (blocking; run on the worker) makes a ChatSession."""

    def __init__(self, open_session: Callable[[Path, int | None, Any], Any], history: Callable[[], Any]) -> None:
        self._open_session = open_session
        self._history = history  # () → glmchat.history.History (opened once, by the caller)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glmchat-acp")
        self._sessions: dict[str, AcpSession] = {}
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fs = (False, False)  # the client's fs.readTextFile, fs.writeTextFile (glmchat.acp.client_fs)

    def on_connect(self, conn: Any) -> None:
        self._conn = conn

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._loop = asyncio.get_running_loop()
        try:
            return await self._loop.run_in_executor(self._pool, fn, *args)
        except GlmchatError as exc:
            raise failed(exc) from None

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def initialize(self, protocol_version: int, client_capabilities: Any = None, client_info: Any = None,
                         **kwargs: Any) -> InitializeResponse:
        from glmchat import __version__
        from glmchat.acp.client_fs import offered

        self._fs = offered(client_capabilities)
        return InitializeResponse(
            protocol_version=min(int(protocol_version), PROTOCOL_VERSION) if isinstance(protocol_version, int) else PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(load_session=True, prompt_capabilities=PromptCapabilities(embedded_context=True),
                                                 mcp_capabilities=McpCapabilities(http=True, sse=False)),
            agent_info=Implementation(name="glmchat", title="glmchat (GLM-4.7-Flash)", version=__version__),
        )

    async def authenticate(self, method_id: str, **kwargs: Any) -> None:
        return None

    async def new_session(self, cwd: str, mcp_servers: Any = None, **kwargs: Any) -> NewSessionResponse:
        root = _workspace_dir(cwd)
        _check_mcp(mcp_servers)
        chat = await self._blocking(self._open_session, root, None, mcp_servers)
        sid = str(uuid.uuid4())
        self._sessions[sid] = acp_session = AcpSession(chat)
        chat.approver = self._approver(sid, acp_session)
        self._use_client_files(sid, chat)
        return NewSessionResponse(session_id=sid, modes=_modes(chat))

    async def load_session(self, cwd: str, session_id: str, mcp_servers: Any = None, **kwargs: Any) -> LoadSessionResponse:
        root = _workspace_dir(cwd)
        cid = _conversation_id(session_id)
        _check_mcp(mcp_servers)
        messages = await self._blocking(_stored_messages, self._history(), cid)
        chat = await self._blocking(self._open_session, root, cid, mcp_servers)
        self._sessions[session_id] = acp_session = AcpSession(chat)
        chat.approver = self._approver(session_id, acp_session)
        self._use_client_files(session_id, chat)
        for update in replay(messages):
            await self._conn.session_update(session_id=session_id, update=update)
        return LoadSessionResponse(modes=_modes(chat))

    def _use_client_files(self, session_id: str, chat: Any) -> None:
        """read_file / write_file through the editor, when its initialize offered fs (glmchat.acp.client_fs)."""
        from glmchat.acp.client_fs import ClientFiles, install

        if any(self._fs) and getattr(chat, "tools", None) is not None:
            install(chat.tools, ClientFiles(self._conn, asyncio.get_running_loop(), session_id, *self._fs))

    async def set_session_mode(self, mode_id: str, session_id: str, **kwargs: Any) -> SetSessionModeResponse:
        session = self._session(session_id)
        if mode_id not in MODES:
            raise invalid(f"Unknown mode {mode_id!r}; use one of: {', '.join(MODES)}.")
        session.chat.approval.set_mode(mode_id)
        return SetSessionModeResponse()

    # ---- a turn ------------------------------------------------------------------------------------

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        session = self._session(session_id)
        text = _prompt_text(prompt)
        if session.busy:
            raise RequestError.invalid_request({"message": "A prompt is already running in this session; cancel it first."})
        session.busy, session.cancel = True, CancelToken()
        session.translator.stop_reason = None
        try:
            problem = await self._blocking(self._turn, session_id, session, text, asyncio.get_running_loop())
        finally:
            session.busy = False
        if problem is not None:
            raise failed(GlmchatError(problem.message, problem.hint))
        cid = session.chat.conversation_id  # the history id: session/load takes it as the session id
        meta = {"glmchat/conversationId": str(cid)} if cid is not None else None
        return PromptResponse(stop_reason=session.translator.stop_reason or "cancelled", field_meta=meta)

    def _turn(self, session_id: str, session: AcpSession, text: str, loop: asyncio.AbstractEventLoop) -> TurnFailed | None:
        """On the worker thread: run the turn, sending each update to the client before the next token."""
        problem = None
        for ev in session.chat.send(text, session.cancel):
            if isinstance(ev, TurnFailed):
                problem = ev
            update = session.translator.update(ev)
            if update is not None:
                asyncio.run_coroutine_threadsafe(
                    self._conn.session_update(session_id=session_id, update=update), loop).result()
        if session.cancel is not None and session.cancel.cancelled:
            session.translator.stop_reason = "cancelled"
        return problem

    def _approver(self, session_id: str, session: AcpSession) -> Callable[[Any, str, str], Decision]:
        """The session's approver: asks the client (session/request_permission) and waits for the answer."""

        def approve(call: Any, risk: str, preview: str) -> Decision:
            loop = self._loop
            if loop is None or (session.cancel is not None and session.cancel.cancelled):
                return Decision.deny("The turn was cancelled.")
            tool_call = ToolCallUpdate(tool_call_id=session.translator.call_id(call), title=title_of(call.name, call.arguments),
                                       kind=tool_kind(call.name), status="pending", raw_input={"preview": preview, "risk": risk})
            future = asyncio.run_coroutine_threadsafe(self._conn.request_permission(
                session_id=session_id, tool_call=tool_call, options=PERMISSION_OPTIONS), loop)
            try:
                answer = future.result()
            except Exception:  # noqa: BLE001 - the client failed to answer: nothing runs without a yes
                return Decision.deny("The editor did not answer the permission request.")
            outcome = getattr(answer, "outcome", None)
            if isinstance(outcome, AllowedOutcome) and outcome.option_id == "allow_once":
                return Decision.allow_once()
            if isinstance(outcome, AllowedOutcome) and outcome.option_id == "allow_session":
                return Decision.allow_session()
            return Decision.deny()

        return approve

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is not None and session.cancel is not None:
            session.cancel.cancel()  # the engine stops before its next token

    def _session(self, session_id: Any) -> AcpSession:
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise invalid(f"There is no session {session_id!r}; start one with session/new.")
        return session

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        """Stop running turns, close every session (KV snapshots), then the worker."""
        for session in self._sessions.values():
            if session.cancel is not None:
                session.cancel.cancel()  # a turn still running stops at its next token
            with suppress(Exception):  # one session's failure to close never keeps the others open
                session.chat.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---- checks on what the client sent ------------------------------------------------------------------


def _workspace_dir(cwd: Any) -> Path:
    if not isinstance(cwd, str) or not cwd or "\x00" in cwd:
        raise invalid("cwd must be an absolute path to a directory.")
    root = Path(cwd)
    if not root.is_absolute() or not root.is_dir():
        raise invalid(f"cwd {cwd!r} is not an absolute path to an existing directory.")
    return root


def _check_mcp(mcp_servers: Any) -> None:
    from glmchat.acp.mcp_servers import configs_from_client

    try:
        configs_from_client(mcp_servers)
    except GlmchatError as exc:
        raise invalid(f"{exc.message} {exc.hint or ''}".strip()) from None


def _conversation_id(session_id: Any) -> int:
    if not isinstance(session_id, str) or not session_id.isdigit() or len(session_id) > 18:
        raise invalid(f"There is no stored conversation {session_id!r}; session ids to load are glmchat history ids.")
    return int(session_id)


def _prompt_text(blocks: Any) -> str:
    """The prompt's text: text blocks, and embedded text resources as attachments."""
    parts: list[str] = []
    for block in blocks or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and isinstance(getattr(block.resource, "text", None), str):
            parts.append(f"<file uri={block.resource.uri!r}>\n{block.resource.text}\n</file>")
        elif kind == "resource_link":
            parts.append(f"(file: {block.uri})")
    text = "\n\n".join(parts)
    if not text.strip():
        raise invalid("The prompt has no text.")
    if len(text) > MAX_PROMPT_CHARS:
        raise invalid(f"The prompt is {len(text):,} characters; the most is {MAX_PROMPT_CHARS:,}.")
    return text


def _modes(chat: Any) -> SessionModeState:
    names = {"default": "Default", "accept-edits": "Accept edits", "plan": "Plan"}
    return SessionModeState(current_mode_id=chat.approval.mode, available_modes=[
        SessionMode(id=m, name=names.get(m, m), description=LABELS.get(m) or None) for m in MODES])


def _stored_messages(history: Any, cid: int) -> list[Any]:
    from glmchat.store import NotFoundError

    if history is None:
        raise GlmchatError("The history is off, so no conversation can be loaded.", None)
    try:
        history.get(cid)
    except NotFoundError:
        raise RequestError.resource_not_found(f"glmchat:conversation/{cid}") from None
    return history.messages(cid)
