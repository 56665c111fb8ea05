"""One conversation's turn loop, independent of any UI.

    keys → TUI / `glmchat ask` → ChatSession.send() → engine → raw text → GlmStreamParser → events
                                                 ↘ store (written while streaming) ↘ tools (approved)

`ChatSession.send(text)` is a plain generator of `SessionEvent`s, so the TUI runs it in a worker
thread and the headless CLI iterates it directly: there is exactly one streaming loop. The session
owns the conversation's messages in Hugging Face chat form (reasoning kept apart from content,
tool-call arguments as mappings) and rebuilds every prompt from them, so the chat template decides
what the model sees (thinking on / off / preserved).

Beside it: the events it yields (session_events.py), the request it sends (request_builder.py), one
streamed generation (reply.py), one tool call (tool_round.py, under the approval rule of
tools/policy.py), /compact (compaction.py), model-written titles (model_titles.py) and the KV
snapshots that make reopening instant (kv_resume.py).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, suppress
from typing import Any, Iterator

from glmchat import kv_resume, request_builder, rewind
from glmchat.agent_prompt import ENV_KEY, PromptContext
from glmchat.compaction import history_from_store, run_compaction
from glmchat.engine.base import AnswerText, CancelToken, ChatRequest, Engine, RawText, SamplingParams, Usage
from glmchat.errors import EngineError, GlmchatError
from glmchat.glm import ToolCall
from glmchat.loop_guard import REPEATED_CALL_STOP, TurnGuard, stream_guarded
from glmchat.model_titles import title_from, title_request
from glmchat.reply import StreamedReply, call_dict
from glmchat.request_builder import thinking_flags
from glmchat.run_settings import record_engine, turn_meta
from glmchat.session_events import Notice, SessionEvent, ToolResultEvent, TurnFailed, TurnFinished, TurnStarted
from glmchat.settings import THINKING_MODES, Settings
from glmchat.store.rows import clean_text
from glmchat.tool_round import execute_call, refuse_call
from glmchat.tools.policy import ApprovalPolicy, Approver, Decision
from glmchat.tools.rules import user_rules
from glmchat.tools.workspace import Workspace

# The decision an approver returns: `Approval("allow_once")`, `Approval("deny", "why")`. One type with
# glmchat.tools.policy.Decision, where the approval rule lives; this name stays for existing callers.
Approval = Decision

__all__ = [  # the events are defined in glmchat.session_events, the approval types in glmchat.tools.policy
    "Approval", "Approver", "ChatSession", "Notice", "SessionEvent", "ToolResultEvent", "TurnFailed", "TurnFinished",
    "TurnStarted", "thinking_flags",
]


class ChatSession:
    """Drives one conversation: prompt → engine → parser → tools → store."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        store: Any | None = None,
        conversation_id: int | None = None,
        profile: str | None = None,
        thinking: str | None = None,
        system_prompt: str | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        tools: Any | None = None,  # glmchat.tools.ToolRegistry
        tools_enabled: bool = False,
        workspace: Workspace | None = None,
        approver: Approver | None = None,
        approve_policy: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.store = store
        self.profile_name = profile
        self.profile_chosen = profile is not None
        self.thinking = thinking or settings.chat.thinking
        thinking_flags(self.thinking)
        self.system_prompt = system_prompt if system_prompt is not None else settings.chat.system_prompt
        self.max_tokens = max_tokens
        self.seed = seed
        self.tools = tools
        self.tools_enabled = tools_enabled
        if tools_enabled:
            self.tool_registry()  # enabled with no tools given (`glmchat --tools`): the built-in ones
        # which calls ask, what was allowed for the session; workspace None: the current directory at the first call
        self.approval = ApprovalPolicy(approve_policy or settings.tools.approve, workspace, rules=user_rules(settings))
        self.approver = approver  # asked when approval decides a call needs the user; None: such calls are denied
        self.undo_log: Any | None = None
        self.file_history: Any | None = None  # (FileHistory, key) of this conversation, for /rewind (rewind.py)
        self.messages: list[dict[str, Any]] = []  # template-form history (no system prompt)
        self.message_ids: list[int | None] = []  # store ids, parallel to self.messages
        self.conversation_id: int | None = None
        self.pending_attachments: list[tuple[str, str]] = []  # (label, text) added to the next message
        self.last_usage: Usage | None = None
        self.omitted_messages = 0
        self.restored_tokens = 0  # KV-cache tokens restored from a snapshot by the last load()
        self.prompt_context = PromptContext()  # the system prompt's environment and AGENTS.md, kept per conversation
        self._stream_lock = threading.RLock()  # one stream at a time on the engine: a turn or a title
        self._title_cancel: CancelToken | None = None  # the title being written (a turn cancels it)
        if conversation_id is not None:
            self.load(conversation_id)

    # ---- conversation management -----------------------------------------------------------------

    def load(self, conversation_id: int) -> None:
        with self._one_stream():
            if self.store is None:
                raise GlmchatError("No conversation store is open.", "Run without --no-history.")
            conv = self.store.get_conversation(conversation_id)
            if self.conversation_id is not None and self.conversation_id != conv.id:
                self.close()  # leaving the current conversation: snapshot its KV state
            self.conversation_id = conv.id
            self.prompt_context.reset(conv.settings.get(ENV_KEY) if isinstance(conv.settings, dict) else None)
            if conv.profile and conv.profile in self.settings.profiles:
                self.profile_name = conv.profile
                self.profile_chosen = True
            if conv.thinking_mode in THINKING_MODES:
                self.thinking = conv.thinking_mode
            if conv.system_prompt is not None:
                self.system_prompt = conv.system_prompt
            self.messages, self.message_ids = history_from_store(self.store.messages(conv.id))
            self.restored_tokens = kv_resume.restore(self)

    def new(self) -> None:
        with self._one_stream():
            self.close()
            self.conversation_id = None
            self.prompt_context.reset()
            self.messages, self.message_ids = [], []
            self.pending_attachments.clear()
            self.last_usage = None

    def close(self) -> None:
        """Leave this conversation: snapshot the engine's KV state for instant resume.

        Only for engines that are `SnapshotCapable` and `Tokenizing` (the local one), only when the
        cache holds this conversation's prompt, and never an error: a snapshot that cannot be written
        is a lost speed-up. The TUI and `glmchat ask` call this on exit; `new()` and `load()` call it
        when switching away. Safe to call more than once.
        """
        with self._one_stream():
            kv_resume.save(self)

    @property
    def workspace(self) -> Workspace | None:  # None until a tool call needs one: then the current directory
        return self.approval.workspace

    @workspace.setter
    def workspace(self, workspace: Workspace | None) -> None:
        self.approval.workspace = workspace

    @property
    def approve_policy(self) -> str:
        return self.approval.policy

    @property
    def session_allowed(self) -> set[str]:
        """Tools the user allowed for this session ("allow for this session")."""
        return self.approval.session_allowed

    @property
    def profile(self) -> str:
        if self.profile_chosen and self.profile_name:
            return self.profile_name
        return "tool" if self.tools_enabled and "tool" in self.settings.profiles else (self.profile_name or self.settings.chat.profile)

    def set_profile(self, name: str) -> None:
        self.settings.profile(name)  # raises UsageError listing known names
        self.profile_name, self.profile_chosen = name, True
        self._save_conversation_fields(profile=name)

    def set_thinking(self, mode: str) -> None:
        thinking_flags(mode)
        self.thinking = mode
        self._save_conversation_fields(thinking_mode=mode)

    def set_system_prompt(self, text: str | None) -> None:
        self.system_prompt = text or None
        self._save_conversation_fields(system_prompt=self.system_prompt)

    def use_engine(self, engine: Engine) -> None:
        """Carry on with another engine (/model loaded a new one); the conversation stays."""
        with self._stream_lock:
            self.engine = engine

    def attach(self, label: str, text: str) -> None:
        """Add `text` (named `label`) to the next user message."""
        self.pending_attachments.append((label, text))

    def tool_registry(self) -> Any:
        """The tools the model may be offered (the built-in ones unless the session was given others)."""
        if self.tools is None:
            from glmchat.tools.registry import ToolRegistry

            self.tools = ToolRegistry.builtin(self.settings.tools.web)
            from glmchat.mcp.tools import add_running_servers  # the MCP servers' tools, when some run

            add_running_servers(self.tools)
        return self.tools

    def enable_tools(self, on: bool) -> None:
        """Let the model call tools from the next turn on (or stop it)."""
        self.tool_registry()
        self.tools_enabled = on
        if on:
            self.ensure_undo_log()

    def ensure_undo_log(self) -> Any:
        """The log of file changes that tools and /undo share (created on first use)."""
        if self.undo_log is None:
            from glmchat.tools.undo import UndoLog

            self.undo_log = UndoLog()
        return self.undo_log

    def set_title(self, title: str) -> None:
        if self.store is not None and self.conversation_id is not None:
            self.store.rename(self.conversation_id, title)

    def _save_conversation_fields(self, **fields: Any) -> None:
        if self.store is not None and self.conversation_id is not None:
            self.store.update_conversation(self.conversation_id, **fields)

    @contextmanager
    def _ensure_conversation(self) -> Iterator[None]:
        """A stored conversation for the block's message; one made here is deleted if the block fails
        (a turn failing before anything is stored leaves no empty "(untitled)" conversation)."""
        if self.store is None or self.conversation_id is not None:
            yield
            return
        conv = self.store.create_conversation(
            model=self.engine.info.model,
            quant=self.engine.info.quant,
            profile=self.profile,
            thinking_mode=self.thinking,
            system_prompt=self.system_prompt,
        )
        self.conversation_id = conv.id
        try:
            yield
        except BaseException:
            self.conversation_id = None
            with suppress(GlmchatError):
                self.store.delete(conv.id)
            raise

    def store_message(self, msg: dict[str, Any], **extra: Any) -> int | None:
        # not-UTF-8 text (e.g. file names) as the store keeps it (U+FFFD), in memory too: engines encode it
        if isinstance(msg.get("content"), str):
            msg["content"] = clean_text(msg["content"])
        if self.store is None or self.conversation_id is None:
            return None
        calls = [
            {"id": c.get("id"), "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in msg.get("tool_calls", [])
        ] or None
        m = self.store.add_message(
            self.conversation_id,
            msg["role"],
            msg.get("content") or "",
            reasoning=msg.get("reasoning_content"),
            tool_calls=calls,
            tool_call_id=msg.get("tool_call_id"),
            name=msg.get("name"),
            **extra,
        )
        return m.id

    # ---- prompt building -------------------------------------------------------------------------

    def sampling(self) -> SamplingParams:
        from dataclasses import replace

        params = self.settings.profile(self.profile)
        if self.max_tokens is not None:
            params = replace(params, max_tokens=self.max_tokens)
        if self.seed is not None:
            params = replace(params, seed=self.seed)
        return params

    def build_request(self, grammar: str | None = None) -> ChatRequest:
        """The next request: system prompt, the messages not left out, tools, thinking flags."""
        return request_builder.build_request(self, grammar)

    def context_used(self) -> tuple[int, int]:
        """(tokens the next prompt takes, context size) — for the status bar."""
        return request_builder.context_used(self)

    # ---- the turn loop ---------------------------------------------------------------------------

    def send(self, text: str, cancel: CancelToken | None = None, *, grammar: str | None = None) -> Iterator[SessionEvent]:
        """Add a user message and run the turn (with tool rounds) to its end."""
        with self._one_stream():
            title = next((line for line in text.splitlines() if line.strip()), "")  # the typed text's first line
            if self.pending_attachments:
                title = title or self.pending_attachments[0][0]  # attachments only: the first one's label
                parts = [f"{label}\n```\n{body.rstrip(chr(10))}\n```" for label, body in self.pending_attachments]
                text = "\n\n".join([text] + parts) if text else "\n\n".join(parts)
                self.pending_attachments.clear()
            msg = {"role": "user", "content": text}
            with self._ensure_conversation():
                message_id = self.store_message(msg, title_source=title)
            self.messages.append(msg)
            self.message_ids.append(message_id)
            yield from self.run_turn(cancel or CancelToken(), grammar=grammar)

    def retry(self, cancel: CancelToken | None = None) -> Iterator[SessionEvent]:
        """Drop everything after the last user message and generate again."""
        with self._one_stream():
            idx = self._last_user_index()
            self._truncate_after(idx)
            yield from self.run_turn(cancel or CancelToken())

    def edit_last(self, text: str, cancel: CancelToken | None = None) -> Iterator[SessionEvent]:
        """Replace the last user message with `text`, drop what followed, and generate again."""
        with self._one_stream():
            idx = self._last_user_index()
            self.messages[idx] = {"role": "user", "content": text}
            if self.store is not None and self.message_ids[idx] is not None:
                self.store.update_message(self.message_ids[idx], content=text)
            self._truncate_after(idx)
            yield from self.run_turn(cancel or CancelToken())

    def last_user_text(self) -> str | None:
        try:
            return self.messages[self._last_user_index()]["content"]
        except GlmchatError:
            return None

    def _last_user_index(self) -> int:
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i]["role"] == "user":
                return i
        raise GlmchatError("There is no message to retry or edit yet.", "Type a message first.")

    def _truncate_after(self, idx: int) -> None:
        keep_id = self.message_ids[idx]
        if self.store is not None and self.conversation_id is not None and keep_id is not None:
            self.store.truncate_after(self.conversation_id, keep_id)
        del self.messages[idx + 1 :]
        del self.message_ids[idx + 1 :]
        self.omitted_messages = min(self.omitted_messages, max(len(self.messages) - 1, 0))

    @contextmanager
    def _one_stream(self) -> Iterator[None]:
        """One stream at a time on the engine: a title being written is cancelled (and waited for)
        before a turn, a switch of conversation or a KV snapshot; re-entrant (load() calls close())."""
        title = self._title_cancel
        if title is not None:
            title.cancel()
        with self._stream_lock:
            yield

    def run_turn(self, cancel: CancelToken, grammar: str | None = None) -> Iterator[SessionEvent]:
        max_rounds = self.settings.tools.max_rounds if self.tools_enabled else 1
        rounds = 0
        guard = TurnGuard(self.settings.chat.loop_guard)  # repeated calls, repeating text (glmchat.loop_guard)
        while True:
            rounds += 1
            if self.tools_enabled and hasattr(self.tools, "notices"):  # MCP servers that failed (waits for them, bounded)
                yield from (Notice(text, "warning") for text in self.tools.notices())
            try:
                yield from request_builder.fit_context(self)
            except GlmchatError as exc:
                yield TurnFailed(exc.message, exc.hint)
                return
            result = yield from self._generate(cancel, grammar, rounds, guard)
            if result is None:  # failed; TurnFailed already yielded
                return
            usage, status, answer, thinking, calls = result
            complete_calls = [c for c in calls if isinstance(c, ToolCall)]
            if status != "complete" or not complete_calls or not self.tools_enabled or self.tools is None:
                yield TurnFinished(usage, status, answer, thinking, [call_dict(c) for c in complete_calls], rounds)
                return
            for call in complete_calls:
                if cancel.cancelled:
                    break
                verdict = guard.call_verdict(call)
                if verdict == "run":
                    output, ok, decision, diff = execute_call(self, call, cancel)
                else:  # the same call again: not run, the result says so
                    output, ok, decision, diff = refuse_call(self, call, guard.refusal(call, verdict), verdict == "stop")
                # e.g. a project's allow rule, ignored; a file too big to snapshot for /rewind
                for text in self.approval.take_notices() + rewind.take_notices(self):
                    yield Notice(text, "warning")
                yield ToolResultEvent(call, output, ok, decision, diff)
            if cancel.cancelled:
                yield TurnFinished(usage, "cancelled", answer, thinking, [call_dict(c) for c in complete_calls], rounds)
                return
            if guard.stopped:
                yield Notice(REPEATED_CALL_STOP, "warning")
                yield TurnFinished(usage, "stopped", answer, thinking, [call_dict(c) for c in complete_calls], rounds)
                return
            if rounds >= max_rounds:
                yield Notice(f"Stopped after {rounds} tool rounds (tools.max_rounds).", "warning")
                yield TurnFinished(usage, "complete", answer, thinking, [call_dict(c) for c in complete_calls], rounds)
                return

    def _generate(self, cancel: CancelToken, grammar: str | None, round_no: int, guard: TurnGuard | None = None):
        """One engine generation, streamed into the parser, the store and the caller.

        Returns (usage, status, answer, thinking, calls), or None after yielding TurnFailed; the
        assistant message is kept (and stored) either way, so a failed turn keeps its partial answer.
        """
        request = self.build_request(grammar)
        writer = None
        if self.store is not None and self.conversation_id is not None:
            record_engine(self.store, self.conversation_id, self.engine)  # what it runs on, as of this turn
            writer = self.store.stream_writer(self.conversation_id, meta=turn_meta(self.profile, self.thinking))
        reply = StreamedReply(request.tools, round_no, writer)
        error: GlmchatError | None = None
        try:
            yield from stream_guarded(self.engine, request, reply, cancel, guard)
        except GlmchatError as exc:
            error = exc
        except Exception as exc:  # an engine bug must not lose the partial answer
            error = EngineError(f"The engine failed: {exc}.", "The partial answer is kept; /retry to try again.")
        yield from reply.end()
        status = reply.status(error, cancel.cancelled)
        self.last_usage = reply.usage
        msg = reply.message()
        message_id = reply.save(msg, status, error)
        self.messages.append(msg)
        self.message_ids.append(message_id)
        if error is not None:
            yield TurnFailed(error.message, error.hint)
            return None
        return reply.usage, status, reply.answer, reply.thinking, reply.calls

    # ---- titles ----------------------------------------------------------------------------------

    def wants_model_title(self) -> bool:
        """True right after the first exchange when `[chat] model_titles` is on."""
        return (
            self.settings.chat.model_titles
            and self.store is not None
            and self.conversation_id is not None
            and sum(1 for m in self.messages if m["role"] == "user") == 1
            and any(m["role"] == "assistant" and m.get("content") for m in self.messages)
        )

    def generate_title(self, cancel: CancelToken | None = None) -> str | None:
        """Ask the model for a short title of this conversation and store it (thinking off, 24 tokens)."""
        parts: list[str] = []
        cancel = self._title_cancel = cancel or CancelToken()  # a turn that starts meanwhile cancels it
        try:
            with self._stream_lock:
                for item in self.engine.stream(title_request(self.messages, self.settings), cancel):
                    if isinstance(item, (RawText, AnswerText)):
                        parts.append(item.text)
        except GlmchatError:
            return None
        finally:
            self._title_cancel = None
        title = title_from("".join(parts))
        if title is not None:
            self.set_title(title)
        return title

    # ---- compaction ------------------------------------------------------------------------------

    def compact(self, cancel: CancelToken | None = None, keep_last_turns: int = 1) -> Iterator[SessionEvent]:
        """Ask the model for a summary of older turns; the summary replaces them in the prompt."""
        with self._one_stream():
            yield from run_compaction(self, cancel or CancelToken(), keep_last_turns)
