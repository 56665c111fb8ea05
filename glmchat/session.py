"""One conversation's turn loop, independent of any UI.

    keys → TUI / `glmchat ask` → ChatSession.send() → engine → raw text → GlmStreamParser → events
                                                 ↘ store (written while streaming) ↘ tools (approved)

`ChatSession.send(text)` is a plain generator of `SessionEvent`s, so the TUI runs it in a worker
thread and the headless CLI iterates it directly: there is exactly one streaming loop. The session
owns the conversation's messages in Hugging Face chat form (reasoning kept apart from content,
tool-call arguments as mappings) and rebuilds every prompt from them, so the chat template decides
what the model sees (thinking on / off / preserved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from glmchat.engine.base import (
    AnswerText,
    CancelToken,
    ChatRequest,
    Engine,
    Finished,
    RawText,
    ReasoningText,
    SamplingParams,
    Started,
    ToolCallDelta,
    Usage,
)
from glmchat.errors import EngineError, GlmchatError, UsageError
from glmchat.glm import Answer, GlmStreamParser, IncompleteToolCall, Thinking, ToolCall
from glmchat.settings import THINKING_MODES, Settings

# ---- events ------------------------------------------------------------------------------------------


@dataclass
class TurnStarted:
    prompt_tokens: int
    cached_prompt_tokens: int
    round: int = 1  # tool-loop round (1 = the first generation of this turn)


@dataclass
class ToolResultEvent:
    call: ToolCall
    output: str
    ok: bool
    decision: str  # "auto" | "allow_once" | "allow_session" | "deny"
    diff: str | None = None


@dataclass
class Notice:
    text: str
    level: str = "info"  # info | warning


@dataclass
class TurnFinished:
    usage: Usage
    status: str  # complete | cancelled | error | length
    answer: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 1


@dataclass
class TurnFailed:
    message: str
    hint: str | None = None


SessionEvent = Any  # TurnStarted | Thinking | Answer | ToolCall | IncompleteToolCall | ToolResultEvent | Notice | TurnFinished | TurnFailed


@dataclass
class Approval:
    """What the user decided about one tool call."""

    decision: str  # allow_once | allow_session | deny
    message: str | None = None  # optional note sent back to the model on deny


# approver(call, risk, preview) -> Approval; blocks until the user answered
Approver = Callable[[ToolCall, str, str], Approval]


def thinking_flags(mode: str) -> tuple[bool, bool]:
    """(enable_thinking, clear_thinking) for a conversation's thinking mode."""
    if mode not in THINKING_MODES:
        raise UsageError(f"Unknown thinking mode {mode!r}.", "Use on, off or preserve.")
    return mode != "off", mode != "preserve"


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
        workspace: Any | None = None,  # glmchat.tools.Workspace
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
        self.workspace = workspace
        self.approver = approver
        self.approve_policy = approve_policy or settings.tools.approve
        self.session_allowed: set[str] = set()
        self.undo_log: Any | None = None
        self.messages: list[dict[str, Any]] = []  # template-form history (no system prompt)
        self.message_ids: list[int | None] = []  # store ids, parallel to self.messages
        self.conversation_id: int | None = None
        self.pending_attachments: list[tuple[str, str]] = []  # (label, text) added to the next message
        self.last_usage: Usage | None = None
        self.omitted_messages = 0
        self.restored_tokens = 0  # KV-cache tokens restored from a snapshot by the last load()
        if conversation_id is not None:
            self.load(conversation_id)

    # ---- conversation management -----------------------------------------------------------------

    def load(self, conversation_id: int) -> None:
        if self.store is None:
            raise GlmchatError("No conversation store is open.", "Run without --no-history.")
        conv = self.store.get_conversation(conversation_id)
        if self.conversation_id is not None and self.conversation_id != conv.id:
            self.close()  # leaving the current conversation: snapshot its KV state
        self.conversation_id = conv.id
        if conv.profile and conv.profile in self.settings.profiles:
            self.profile_name = conv.profile
            self.profile_chosen = True
        if conv.thinking_mode in THINKING_MODES:
            self.thinking = conv.thinking_mode
        if conv.system_prompt is not None:
            self.system_prompt = conv.system_prompt
        self.messages, self.message_ids = [], []
        summaries, rest = [], []
        for m in self.store.messages(conv.id):
            meta = m.meta or {}
            if m.role == "system" or meta.get("compacted"):
                continue
            (summaries if meta.get("summary") else rest).append(m)
        for m in summaries[-1:]:  # the latest summary stands in for the compacted turns
            self.messages += [m.to_chat(), {"role": "assistant", "content": "Understood."}]
            self.message_ids += [m.id, None]
        for m in rest:
            self.messages.append(m.to_chat())
            self.message_ids.append(m.id)
        self.restored_tokens = self._restore_snapshot()

    def new(self) -> None:
        self.close()
        self.conversation_id = None
        self.messages, self.message_ids = [], []
        self.pending_attachments.clear()
        self.last_usage = None

    def close(self) -> None:
        """Leave this conversation: snapshot the engine's KV state for instant resume.

        Only for engines with `save_state` (the local one), only when the cache holds this
        conversation's prompt, and never an error: a snapshot that cannot be written is a lost
        speed-up. The TUI and `glmchat ask` call this on exit; `new()` and `load()` call it when
        switching away. Safe to call more than once.
        """
        if self.conversation_id is None or not self._snapshots_on() or not hasattr(self.engine, "save_state"):
            return
        try:
            from glmchat.engine.kv_snapshot import SnapshotStore

            prompt = self.engine.tokenize(self.engine.render(self.build_request()))  # type: ignore[attr-defined]
            SnapshotStore().save(self.engine, self.conversation_id, prompt_tokens=prompt)
        except Exception:  # noqa: BLE001 - never lose the exit or the switch over a cache file
            pass

    def _snapshots_on(self) -> bool:
        return bool(getattr(self.settings.model, "resume_snapshots", True)) and self.store is not None

    def _restore_snapshot(self) -> int:
        """Load this conversation's KV snapshot into the engine when one matches; tokens restored."""
        if self.conversation_id is None or not self._snapshots_on() or not hasattr(self.engine, "load_state"):
            return 0
        try:
            from glmchat.engine.kv_snapshot import MIN_TOKENS, SnapshotStore, shared_prefix

            cached = self.engine.cached_tokens  # type: ignore[attr-defined]
            if len(cached) >= MIN_TOKENS:  # the cache may hold this conversation already (reopened while current)
                prompt = self.engine.tokenize(self.engine.render(self.build_request()))  # type: ignore[attr-defined]
                if shared_prefix(cached, prompt) >= len(cached) - 16:
                    return 0  # keep it: it is at least as fresh as any snapshot
            return SnapshotStore().restore(self.engine, self.conversation_id)
        except Exception:  # noqa: BLE001 - the first turn then simply evaluates the whole prompt
            return 0

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

    def set_title(self, title: str) -> None:
        if self.store is not None and self.conversation_id is not None:
            self.store.rename(self.conversation_id, title)

    def _save_conversation_fields(self, **fields: Any) -> None:
        if self.store is not None and self.conversation_id is not None:
            self.store.update_conversation(self.conversation_id, **fields)

    def _ensure_conversation(self) -> None:
        if self.store is None or self.conversation_id is not None:
            return
        conv = self.store.create_conversation(
            model=self.engine.info.model,
            quant=self.engine.info.quant,
            profile=self.profile,
            thinking_mode=self.thinking,
            system_prompt=self.system_prompt,
        )
        self.conversation_id = conv.id

    def _store_message(self, msg: dict[str, Any], **extra: Any) -> int | None:
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
        enable, clear = thinking_flags(self.thinking)
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        body = self.messages[self.omitted_messages :] if self.omitted_messages else list(self.messages)
        tools = self.tools.schemas() if (self.tools is not None and self.tools_enabled) else None
        return ChatRequest(
            messages=head + body,
            sampling=self.sampling(),
            tools=tools,
            enable_thinking=enable,
            clear_thinking=clear,
            grammar=grammar,
        )

    def context_used(self) -> tuple[int, int]:
        """(tokens the next prompt takes, context size) — for the status bar."""
        n_ctx = self.engine.info.n_ctx or 0
        try:
            used = self.engine.count_tokens(self.build_request())
        except Exception:
            used = self.last_usage.prompt_tokens + self.last_usage.completion_tokens if self.last_usage else 0
        return used, n_ctx

    def _fit_context(self) -> Iterator[Notice]:
        """Leave the oldest turns out of the prompt (never the system prompt) until it fits."""
        n_ctx = self.engine.info.n_ctx or 0
        if not n_ctx:
            return
        reserve = min(self.sampling().max_tokens or 2048, max(n_ctx // 4, 256))
        dropped_before = self.omitted_messages
        last_user = max((i for i, m in enumerate(self.messages) if m["role"] == "user"), default=0)
        while True:
            used = self.engine.count_tokens(self.build_request())
            if used + reserve <= n_ctx:
                break
            # leave out whole turns: cut at the next user message, never past the current one
            nxt = next((i for i in range(self.omitted_messages + 1, last_user + 1) if self.messages[i]["role"] == "user"), None)
            if nxt is None:
                if used + 16 > n_ctx:
                    raise GlmchatError(
                        f"The message is too long for the context ({used:,} of {n_ctx:,} tokens).",
                        "Shorten it, start a new conversation (Ctrl+N) or raise the context with --ctx.",
                    )
                break
            self.omitted_messages = nxt
        if self.omitted_messages > dropped_before:
            turns = sum(1 for m in self.messages[: self.omitted_messages] if m["role"] == "user")
            yield Notice(
                f"Context full: the oldest {turns} turn(s) are left out of the prompt (still saved). /compact summarises them.",
                "warning",
            )

    # ---- the turn loop ---------------------------------------------------------------------------

    def send(self, text: str, cancel: CancelToken | None = None, *, grammar: str | None = None) -> Iterator[SessionEvent]:
        """Add a user message and run the turn (with tool rounds) to its end."""
        if self.pending_attachments:
            parts = [f"{label}\n```\n{body.rstrip(chr(10))}\n```" for label, body in self.pending_attachments]
            text = "\n\n".join([text] + parts) if text else "\n\n".join(parts)  # typed text first: it titles the chat
            self.pending_attachments.clear()
        self._ensure_conversation()
        msg = {"role": "user", "content": text}
        self.messages.append(msg)
        self.message_ids.append(self._store_message(msg))
        yield from self._run(cancel or CancelToken(), grammar=grammar)

    def retry(self, cancel: CancelToken | None = None) -> Iterator[SessionEvent]:
        """Drop everything after the last user message and generate again."""
        idx = self._last_user_index()
        self._truncate_after(idx)
        yield from self._run(cancel or CancelToken())

    def edit_last(self, text: str, cancel: CancelToken | None = None) -> Iterator[SessionEvent]:
        """Replace the last user message with `text`, drop what followed, and generate again."""
        idx = self._last_user_index()
        self.messages[idx] = {"role": "user", "content": text}
        if self.store is not None and self.message_ids[idx] is not None:
            self.store.update_message(self.message_ids[idx], content=text)
        self._truncate_after(idx)
        yield from self._run(cancel or CancelToken())

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

    def _run(self, cancel: CancelToken, grammar: str | None = None) -> Iterator[SessionEvent]:
        max_rounds = self.settings.tools.max_rounds if self.tools_enabled else 1
        rounds = 0
        while True:
            rounds += 1
            try:
                yield from self._fit_context()
            except GlmchatError as exc:
                yield TurnFailed(exc.message, exc.hint)
                return
            result = yield from self._generate(cancel, grammar, rounds)
            if result is None:  # failed; TurnFailed already yielded
                return
            usage, status, answer, thinking, calls = result
            complete_calls = [c for c in calls if isinstance(c, ToolCall)]
            if status != "complete" or not complete_calls or not self.tools_enabled or self.tools is None:
                yield TurnFinished(usage, status, answer, thinking, [self._call_dict(c) for c in complete_calls], rounds)
                return
            for call in complete_calls:
                if cancel.cancelled:
                    break
                output, ok, decision, diff = self._execute(call, cancel)
                yield ToolResultEvent(call, output, ok, decision, diff)
            if cancel.cancelled:
                yield TurnFinished(usage, "cancelled", answer, thinking, [self._call_dict(c) for c in complete_calls], rounds)
                return
            if rounds >= max_rounds:
                yield Notice(f"Stopped after {rounds} tool rounds (tools.max_rounds).", "warning")
                yield TurnFinished(usage, "complete", answer, thinking, [self._call_dict(c) for c in complete_calls], rounds)
                return

    @staticmethod
    def _call_dict(call: ToolCall) -> dict[str, Any]:
        return {"name": call.name, "arguments": call.arguments}

    def _generate(self, cancel: CancelToken, grammar: str | None, round_no: int):
        """One engine generation, streamed into the parser, the store and the caller."""
        request = self.build_request(grammar)
        writer = None
        if self.store is not None and self.conversation_id is not None:
            writer = self.store.stream_writer(self.conversation_id)
        answer: list[str] = []
        thinking: list[str] = []
        calls: list[Any] = []
        parser: GlmStreamParser | None = None
        usage = Usage()
        status = "complete"

        def handle(events: list[Any]) -> Iterator[Any]:
            for ev in events:
                if isinstance(ev, Thinking):
                    thinking.append(ev.text)
                    if writer:
                        writer.append_reasoning(ev.text)
                elif isinstance(ev, Answer):
                    answer.append(ev.text)
                    if writer:
                        writer.append_answer(ev.text)
                elif isinstance(ev, (ToolCall, IncompleteToolCall)):
                    calls.append(ev)
                    if writer and isinstance(ev, ToolCall):
                        writer.set_tool_calls([self._call_dict(c) for c in calls if isinstance(c, ToolCall)])
                yield ev

        error: GlmchatError | None = None
        try:
            for item in self.engine.stream(request, cancel):
                if isinstance(item, RawText):
                    if parser is None:
                        parser = GlmStreamParser(tools=request.tools, thinking=False)
                    yield from handle(parser.feed(item.text))
                elif isinstance(item, Started):
                    parser = GlmStreamParser(tools=request.tools, thinking=item.in_thinking)
                    yield TurnStarted(item.prompt_tokens, item.cached_prompt_tokens, round_no)
                elif isinstance(item, ReasoningText):
                    yield from handle([Thinking(item.text)])
                elif isinstance(item, AnswerText):
                    yield from handle([Answer(item.text)])
                elif isinstance(item, ToolCallDelta):
                    yield from handle([ToolCall(item.name, item.arguments, "")])
                elif isinstance(item, Finished):
                    usage = item.usage
        except GlmchatError as exc:
            error = exc
        except Exception as exc:  # an engine bug must not lose the partial answer
            error = EngineError(f"The engine failed: {exc}.", "The partial answer is kept; /retry to try again.")
        if parser is not None:
            yield from handle(parser.finish())

        if error is not None:
            status = "error"
        elif usage.stop_reason == "cancelled" or cancel.cancelled:
            status = "cancelled"
        elif usage.stop_reason == "length":
            status = "length"
        self.last_usage = usage

        complete_calls = [c for c in calls if isinstance(c, ToolCall)]
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(answer)}
        if thinking:
            msg["reasoning_content"] = "".join(thinking)
        if complete_calls:
            msg["tool_calls"] = [
                {"id": f"call_{round_no}_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for i, c in enumerate(complete_calls)
            ]
        incomplete = [c for c in calls if isinstance(c, IncompleteToolCall)]
        meta: dict[str, Any] = {}
        if incomplete:
            meta["incomplete_tool_calls"] = [c.raw for c in incomplete]
        if error is not None:
            meta["error"] = str(error)
        store_status = {"length": "complete"}.get(status, status)
        if status == "length":
            meta["stop_reason"] = "length"
        message_id = None
        if writer is not None:
            if complete_calls:
                writer.set_tool_calls(
                    [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
                )
            finished = writer.finish(status=store_status, usage=usage.to_dict(), meta=meta or None)
            message_id = getattr(finished, "id", None)
        self.messages.append(msg)
        self.message_ids.append(message_id)
        if error is not None:
            yield TurnFailed(error.message, error.hint)
            return None
        return usage, status, "".join(answer), "".join(thinking), calls

    # ---- tools -----------------------------------------------------------------------------------

    def _execute(self, call: ToolCall, cancel: CancelToken) -> tuple[str, bool, str, str | None]:
        """Approve and run one call; store and remember the result. → (output, ok, decision, diff)."""
        from glmchat.tools import ToolContext, UndoLog, Workspace, needs_approval, preview

        if self.workspace is None:
            self.workspace = Workspace()
        if self.undo_log is None:
            self.undo_log = UndoLog()
        tool = self.tools.get(call.name)
        decision = "auto"
        output: str
        ok = False
        diff = None
        if tool is None:
            output = f"Error: there is no tool named {call.name!r}. Available tools: {', '.join(self.tools.names())}."
        else:
            ask = call.name not in self.session_allowed and needs_approval(
                tool, call.arguments, self.approve_policy, self.workspace, self.session_allowed
            )
            if ask:
                if self.approver is None:
                    approval = Approval("deny", "Denied: this tool needs approval and none can be given here (use --yes).")
                else:
                    approval = self.approver(call, tool.risk, preview(tool, call.arguments, self.workspace))
                decision = approval.decision
                if approval.decision == "allow_session":
                    self.session_allowed.add(call.name)
            if decision == "deny":
                output = "The user denied this tool call." + (f" They said: {approval.message}" if approval.message else "")
            else:
                ctx = ToolContext(workspace=self.workspace, cancel=cancel, undo=self.undo_log, timeout=self.settings.tools.timeout)
                result = self.tools.execute(call.name, call.arguments, ctx)
                ok, diff = result.ok, result.diff
                output = result.for_model()
        msg = {"role": "tool", "content": output, "name": call.name}
        idx = sum(1 for m in self.messages if m["role"] == "tool")
        msg["tool_call_id"] = self._tool_call_id_for(call) or f"call_{idx}"
        self.messages.append(msg)
        self.message_ids.append(self._store_message(msg, status="complete", meta={"decision": decision, "ok": ok}))
        return output, ok, decision, diff

    def _tool_call_id_for(self, call: ToolCall) -> str | None:
        for m in reversed(self.messages):
            if m["role"] == "assistant":
                answered = {x.get("tool_call_id") for x in self.messages if x["role"] == "tool"}
                for c in m.get("tool_calls", []):
                    if c["function"]["name"] == call.name and c["id"] not in answered:
                        return c["id"]
                return None
        return None

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
        from dataclasses import replace

        first = next((m["content"] for m in self.messages if m["role"] == "user"), "")
        answer = next((m.get("content") or "" for m in self.messages if m["role"] == "assistant"), "")
        request = ChatRequest(
            messages=[
                {
                    "role": "user",
                    "content": "Write a title of at most six words for this exchange. Reply with the title only.\n\n"
                    f"User: {first[:2000]}\n\nAssistant: {answer[:2000]}",
                }
            ],
            sampling=replace(self.settings.profile("tool"), max_tokens=24),
            enable_thinking=False,
        )
        parts: list[str] = []
        try:
            for item in self.engine.stream(request, cancel or CancelToken()):
                if isinstance(item, (RawText, AnswerText)):
                    parts.append(item.text)
        except GlmchatError:
            return None
        title = "".join(parts).replace("</think>", "").strip().strip('"').strip().splitlines()
        if not title or not title[0].strip():
            return None
        text = title[0].strip()[:80]
        self.set_title(text)
        return text

    # ---- compaction ------------------------------------------------------------------------------

    def compact(self, cancel: CancelToken | None = None, keep_last_turns: int = 1) -> Iterator[SessionEvent]:
        """Ask the model for a summary of older turns; the summary replaces them in the prompt."""
        users = [i for i, m in enumerate(self.messages) if m["role"] == "user"]
        if len(users) <= keep_last_turns:
            yield Notice("Nothing to compact yet.")
            return
        cut = users[-keep_last_turns]
        older = self.messages[:cut]
        transcript = "\n\n".join(f"{m['role'].upper()}: {m.get('content') or ''}" for m in older if m.get("content"))
        saved = (self.messages, self.message_ids, self.thinking)
        self.messages = [
            {
                "role": "user",
                "content": "Summarise the conversation below in a few short paragraphs, keeping facts, decisions, "
                "file names and open questions. Write only the summary.\n\n" + transcript,
            }
        ]
        self.message_ids = [None]
        self.thinking = "off"
        store, self.store = self.store, None
        summary = ""
        try:
            for ev in self._run(cancel or CancelToken()):
                if isinstance(ev, TurnFinished):
                    summary = ev.answer.strip()
                    if ev.status != "complete" or not summary:
                        yield Notice("Compaction stopped; nothing was changed.", "warning")
                        summary = ""
                elif isinstance(ev, (TurnFailed, Answer, TurnStarted)):
                    yield ev
        finally:
            self.store = store
            self.messages, self.message_ids, self.thinking = saved
        if not summary:
            return
        content = "Summary of the earlier conversation:\n\n" + summary
        new_msg = {"role": "user", "content": content}
        if self.store is not None and self.conversation_id is not None:
            for mid in self.message_ids[:cut]:
                if mid is not None:
                    self.store.update_message(mid, meta={"compacted": True})
            sm = self.store.add_message(self.conversation_id, "user", content, meta={"summary": True})
            # summary goes first in the prompt; it is stored last, so order only matters in memory
            new_id = sm.id
        else:
            new_id = None
        self.messages = [new_msg, {"role": "assistant", "content": "Understood."}] + self.messages[cut:]
        self.message_ids = [new_id, None] + self.message_ids[cut:]
        self.omitted_messages = 0
        yield Notice(f"Compacted {len(older)} messages into a summary of {len(summary):,} characters.")
