"""Running one turn in the TUI: the session's generator on a worker thread, its events through a
queue, and a paced drain on the UI thread that applies them to the chat log.

The timer is paced (glmchat.tui.pacing): 30 times a second when the UI has a core to itself, less
often when the model's threads fill every core, so repaints never slow the model. Events that end
or redirect a turn wake the UI at once (`Wake`). Each event type has one handler (`_HANDLERS`).
Approvals are asked from the worker thread (`approve`), which waits for the modal's answer.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Iterator

from textual.message import Message

from glmchat.config_rules import always_allow, suggest_for
from glmchat.engine.base import CancelToken
from glmchat.errors import GlmchatError
from glmchat.glm import Answer, IncompleteToolCall, Thinking, ToolCall
from glmchat.session_events import Notice, PromptProgressed, ToolResultEvent, TurnFailed, TurnFinished, TurnStarted
from glmchat.tools.policy import Decision
from glmchat.tui.notify import Notifier
from glmchat.tui.pacing import FramePacer
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.turn_tuning import turn_process_settings
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.tool_block import ToolBlock

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

TurnMaker = Callable[[CancelToken], Iterator[Any]]  # cancel → the session's events for one turn


class Wake(Message):
    """Posted by the turn worker after an event the UI should show now (not at the next paced frame)."""


@dataclass
class ThinkDone:
    """Queued by the turn worker when reasoning ends (times taken on the worker thread)."""

    seconds: float


@dataclass
class TurnDone:
    """Queued by the turn worker after the session's last event."""

    ctx: tuple[int, int] | None
    last_event_at: float


@dataclass
class TextRun:
    """Consecutive Thinking or Answer events merged into one piece of text (`count` tokens)."""

    kind: type
    text: str
    count: int


def merge_text(events: Iterable[Any]) -> Iterator[Any]:
    """Join runs of Thinking / Answer events into one TextRun each; keep order."""
    kind = None
    parts: list[str] = []
    for ev in events:
        k = Thinking if isinstance(ev, Thinking) else Answer if isinstance(ev, Answer) else None
        if k is not None and k is kind:
            parts.append(ev.text)
            continue
        if kind is not None:
            yield TextRun(kind, "".join(parts), len(parts))
            kind, parts = None, []
        if k is not None:
            kind, parts = k, [ev.text]
        else:
            yield ev
    if kind is not None:
        yield TextRun(kind, "".join(parts), len(parts))


class TurnRunner:
    """Starts turns, drains their events into widgets, and ends them. One turn at a time."""

    def __init__(
        self,
        screen: ChatScreen,
        *,
        on_end: Callable[[], Awaitable[None]],
        timer: Callable[[], float] = time.perf_counter,
        flush_interval: float = 1 / 30,
        drain_chars: int = 1_000_000,
        ui_cpu_budget: float = 0.02,
    ) -> None:
        self.screen = screen
        self.on_end = on_end  # the screen's bookkeeping after a turn (titles, sidebar)
        self.timer = timer
        self.flush_interval = flush_interval
        self.drain_chars = drain_chars  # text applied per frame at most (by default a backlog goes in one frame: its tail renders first)
        self.pacer = FramePacer(flush_interval, budget=ui_cpu_budget)
        self.generating = False
        self.turns_done = 0
        self.last_render_delay: float | None = None  # the engine's last token → final render on screen, s
        self.last_backlog: float | None = None  # engine's last token → final render, s (UI lag)
        self.idle = threading.Event()  # clear while a turn thread runs
        self.idle.set()
        self.queue: collections.deque = collections.deque()
        self.cancel: CancelToken | None = None
        self.gc_paused = False  # cyclic GC is off while a local model streams
        self._process_settings = ExitStack()
        self._drain_timer: Any = None
        self._drain_lock = asyncio.Lock()
        self._blink = True  # the prompt's cursor_blink before a turn (off while a CPU-bound model runs)
        self.notifier = Notifier.for_screen(screen, screen.settings.ui.notify)  # long answers, approvals
        self._started_at = 0.0
        self._reset()
        self._handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            TextRun: self._on_text,
            ThinkDone: self._on_think_done,
            TurnStarted: self._on_started,
            PromptProgressed: self._on_prompt_progress,
            ToolCall: self._on_tool_call,
            IncompleteToolCall: self._on_incomplete_call,
            ToolResultEvent: self._on_tool_result,
            Notice: self._on_notice,
            TurnFinished: self._on_finished,
            TurnFailed: self._on_failed,
            TurnDone: self._on_turn_done,
        }

    def _reset(self) -> None:
        self._current: AssistantMessage | None = None
        self._tokens = 0
        self._round_prompt = 0  # prompt tokens of the running generation (for the live context gauge)
        self._round_tokens = 0  # tokens generated so far in it
        self._first_token_at: float | None = None
        self._think_started: float | None = None
        self._last_text_at = 0.0
        self._rendered_at: float | None = None
        self._last_status_at = 0.0
        self._tool_blocks: dict[int, ToolBlock] = {}

    # ---- start -----------------------------------------------------------------------------------

    def start(self, make: TurnMaker) -> None:
        screen = self.screen
        self.generating = True
        self.cancel = CancelToken()
        self._reset()
        self._started_at = self.timer()
        screen.chat.follow = True
        screen.status.update_info(state="waiting for the model", live_tps=None)  # the figures come with the first token
        cpu_threads = screen.engine.info.cpu_threads if screen.engine is not None else 0
        self._schedule_drain(self.pacer.start(cpu_threads or 0))
        self._blink = screen.prompt.cursor_blink
        if self.pacer.contended:  # every repaint is taken from the model: not even a blinking cursor
            screen.prompt.cursor_blink = False
        self.gc_paused = self._process_settings.enter_context(turn_process_settings(pause_gc=bool(cpu_threads)))
        self.idle.clear()
        screen.call_after_refresh(self._launch, make, self.cancel)

    async def _launch(self, make: TurnMaker, cancel: CancelToken) -> None:
        """Paint the turn's start (the user's message, an empty answer) before the model starts:
        with the model on every core, UI work that overlaps generation is taken from it."""
        if not self.screen.alive():  # the app closed first: no turn to run
            self.idle.set()
            return
        await self._ensure_current()
        self.screen.call_after_refresh(
            lambda: self.screen.run_worker(lambda: self._work(make, cancel), thread=True, group="turn")
        )

    def _work(self, make: TurnMaker, cancel: CancelToken) -> None:
        """The worker thread: run the session's generator, queue its events."""
        q = self.queue
        think_start: float | None = None
        try:
            for ev in make(cancel):
                if isinstance(ev, Thinking):
                    if think_start is None:
                        think_start = self.timer()
                elif think_start is not None:
                    q.append(ThinkDone(self.timer() - think_start))
                    think_start = None
                q.append(ev)
                if isinstance(ev, (Thinking, Answer)):
                    self._last_text_at = self.timer()  # when the engine's latest text reached the UI's queue
                else:
                    self.screen.post_message(Wake())
        except GlmchatError as exc:
            q.append(TurnFailed(exc.message, exc.hint))
        except Exception as exc:  # never a traceback on screen
            q.append(TurnFailed(f"Unexpected error: {exc}.", "The partial answer is kept; /retry to try again."))
        last = self.timer()
        ctx = None
        try:
            ctx = self.screen.session.context_used()
        except Exception:
            pass
        finally:
            self.idle.set()
        q.append(TurnDone(ctx, last))
        self.screen.post_message(Wake())

    # ---- draining the queue ------------------------------------------------------------------------

    def _schedule_drain(self, delay: float, *, sooner: bool = False) -> None:
        if self._drain_timer is not None and sooner:
            self._drain_timer.stop()
            self._drain_timer = None
        if self._drain_timer is None:
            self._drain_timer = self.screen.set_timer(delay, self._paced_drain, name="drain")

    async def _paced_drain(self) -> None:
        self._drain_timer = None
        await self.drain()
        if self.generating:
            self._schedule_drain(self.pacer.after_frame())

    async def woken(self) -> None:
        await self.drain()
        if self.queue and self.generating:  # a backlog (e.g. at the end of a turn): keep going at full rate
            self._schedule_drain(self.flush_interval, sooner=True)

    async def drain(self) -> None:
        """On the UI thread: apply queued events (up to `drain_chars` of text), merged into few repaints."""
        if not self.queue or not self.screen.alive():  # (a late wake-up while the app closes finds no widgets)
            return
        async with self._drain_lock:  # the paced timer and a wake-up must not interleave their batches
            await self._drain_batch()

    async def _drain_batch(self) -> None:
        batch = []
        chars = 0
        while self.queue and chars < self.drain_chars:  # bounded work per frame; the rest waits a tick
            item = self.queue.popleft()
            batch.append(item)
            text = getattr(item, "text", None)
            if isinstance(text, str):
                chars += len(text)
        for item in merge_text(batch):
            await self._handlers[type(item)](item)
        self.screen.chat.keep_up()
        now = self.timer()
        if self.generating and self._first_token_at is not None and now - self._last_status_at > 0.25:
            self._last_status_at = now
            elapsed = now - self._first_token_at
            changes: dict[str, Any] = {"live_tps": self._tokens / elapsed} if elapsed > 0 else {}
            if self._round_prompt:
                changes["ctx_used"] = self._round_prompt + self._round_tokens
            self.screen.status.update_info(**changes)

    async def _ensure_current(self) -> AssistantMessage:
        if self._current is None:
            await self.screen.chat.drop_welcome()
            self._current = AssistantMessage()
            await self.screen.chat.mount(self._current)
        return self._current

    async def _end_thinking(self, seconds: float | None = None) -> None:
        msg = self._current
        if msg is not None and msg.thinking is not None and not msg.thinking.done:
            if seconds is None:
                seconds = self.timer() - (self._think_started or self.timer())
            msg.thinking.finish(seconds, collapse=True)

    # ---- one handler per event type -----------------------------------------------------------------

    async def _on_text(self, run: TextRun) -> None:
        self._tokens += run.count
        if not self._round_tokens:  # this round's first text: the prompt has been read
            self.screen.status.update_info(state="generating", live_tps=self.screen.status.info.live_tps or 0.0)
        self._round_tokens += run.count
        if self._first_token_at is None:
            self._first_token_at = self.timer()
        msg = await self._ensure_current()
        if run.kind is Thinking:
            if self._think_started is None:
                self._think_started = self.timer()
            await msg.add_thinking(run.text, run.count)
        else:
            await self._end_thinking()
            await msg.add_answer(run.text)

    async def _on_think_done(self, item: ThinkDone) -> None:
        await self._end_thinking(item.seconds)

    async def _on_started(self, item: TurnStarted) -> None:
        if self._current is not None and (self._current.answer or self._current.thinking is not None):
            await self._current.finish("complete")
            self._current = None
        self._think_started = None
        self._round_prompt, self._round_tokens = item.prompt_tokens, 0
        new = item.prompt_tokens - item.cached_prompt_tokens
        # the last turn's figures would read as this one's: they come back when it finishes
        self.screen.status.update_info(state=f"prompt {new:,} tok" if new > 0 else "generating", live_tps=None, last_tps=None)
        await self._ensure_current()

    async def _on_prompt_progress(self, item: PromptProgressed) -> None:
        self.screen.status.update_info(state=item.describe(compact=True), ctx_used=item.done)

    async def _on_tool_call(self, item: ToolCall) -> None:
        await self._end_thinking()
        if self._current is not None:
            await self._current.finish("complete")
        block = ToolBlock(item.name, item.arguments)
        self._tool_blocks[id(item)] = block
        await self.screen.chat.mount(block)
        self._current = None

    async def _on_incomplete_call(self, item: IncompleteToolCall) -> None:
        await self.screen.chat.mount(ErrorBlock("The model's tool call was cut off or malformed, so it was not run.", "Ask again, or /retry."))

    async def _on_tool_result(self, item: ToolResultEvent) -> None:
        block = self._tool_blocks.pop(id(item.call), None)
        if block is None:
            block = next((b for b in reversed(list(self.screen.chat.query(ToolBlock))) if not b.output), None)
        if block is not None:
            block.set_result(item.output, item.ok, item.decision, item.diff)

    async def _on_notice(self, item: Notice) -> None:
        await self.screen.chat.mount(NoticeBlock(item.text, item.level))

    async def _on_finished(self, item: TurnFinished) -> None:
        await self._end_thinking()
        u = item.usage
        self.screen.status.update_info(
            last_ttft=u.time_to_first_token,
            last_tps=u.generation_tokens_per_second,
            live_tps=None,
            last_drafted=u.draft_tokens,
            last_accepted=u.accepted_draft_tokens,
        )
        if self._current is not None:
            note = {
                "cancelled": "⏹ Stopped — partial answer",
                "stopped": "⏹ Stopped — the loop guard ended it (see the notice)",
                "length": f"… Cut off: {u.note}" if u.note else "… Cut off: the token limit was reached",
            }.get(item.status)
            await self._current.finish(item.status, note)
        self.screen.call_after_refresh(self._mark_rendered)

    async def _on_failed(self, item: TurnFailed) -> None:
        await self._end_thinking()
        if self._current is not None and not self._current.answer and self._current.thinking is None:
            await self._current.remove()  # nothing came: the error block says it all
            self._current = None
        if self._current is not None:
            await self._current.finish("error", "✖ Failed — partial answer kept" if self._current.answer else None)
        await self.screen.chat.mount(ErrorBlock(item.message, item.hint))

    async def _on_turn_done(self, done: TurnDone) -> None:
        screen = self.screen
        if self._current is not None and self._current.status == "streaming":
            await self._current.finish("complete")
        self._current = None
        self.generating = False
        self.cancel = None
        screen.prompt.cursor_blink = self._blink
        if self.restore_process_settings():
            screen.call_after_refresh(gc.collect)  # the collection skipped during the turn, after the final paint
        screen.call_after_refresh(screen.chat.keep_up)
        screen.call_after_refresh(self._count_turn, done.last_event_at)
        screen.status.update_info(state="ready", live_tps=None)
        if done.ctx:
            await screen.show_context(*done.ctx)
        await self.on_end()
        self.notifier.answer_finished(self.timer() - self._started_at, self._conversation_title())

    def _conversation_title(self) -> str:
        """The open conversation's title as the sidebar shows it ("" before it has one)."""
        cid = self.screen.conversations.current_id
        return next((c.title for c in self.screen.sidebar.conversations if c.id == cid), "") or ""

    # ---- end ---------------------------------------------------------------------------------------

    def _mark_rendered(self) -> None:
        """Called after the refresh that follows the final update: the answer is on screen.
        Records how long after the engine's last token (queued by the turn worker) that was."""
        now = self.timer()
        self.last_render_delay = now - self._last_text_at if self._last_text_at else 0.0
        self._rendered_at = now

    def _count_turn(self, engine_done_at: float) -> None:
        """After the final refresh: how far the screen lagged the engine, and one more turn done."""
        if self._rendered_at is None:
            self._mark_rendered()
        self.last_backlog = (self._rendered_at or 0.0) - engine_done_at
        self.turns_done += 1

    def restore_process_settings(self) -> bool:
        """Undo what `start` changed for the whole process; True when GC had been paused."""
        paused, self.gc_paused = self.gc_paused, False
        self._process_settings.close()
        return paused

    def stop(self) -> bool:
        """Esc: cancel the running turn (it keeps what it has). True when one was running."""
        if self.generating and self.cancel is not None:
            self.cancel.cancel()
            return True
        return False

    # ---- approvals (called from the turn worker thread) ----------------------------------------------

    def approve(self, call: Any, risk: str, preview: str) -> Decision:
        """Ask the user about one tool call; blocks the worker until they answered (or Esc)."""
        done = threading.Event()
        result: dict[str, Any] = {}

        def on_result(r: tuple[str, str | None] | None) -> None:
            result["r"] = r or ("deny", None)
            done.set()

        session = self.screen.session
        suggestion = suggest_for(session, call) if session is not None else None  # for "Always allow"
        screen = ApprovalScreen(call.name, dict(call.arguments or {}), risk, preview or "", suggestion)
        app = self.screen.app
        app.call_from_thread(app.push_screen, screen, on_result)
        app.call_from_thread(lambda: self.notifier.approval_waiting(self._conversation_title()))
        cancel = self.cancel
        while not done.wait(0.05):
            if cancel is not None and cancel.cancelled:
                app.call_from_thread(screen.dismiss, ("deny", "Cancelled by the user."))
                done.wait(1.0)
                return Decision("deny", "Cancelled by the user.")
        decision, message = result["r"]
        if decision == "allow_always" and session is not None:  # write the rule here, off the UI thread
            saved, note = always_allow(session, call, message or "")
            app.call_from_thread(lambda: self.screen.notify(note, severity="information" if saved else "error", timeout=8))
            return Decision.allow_once()
        return Decision(decision, message)
