"""The glmchat Textual app: layout, start-up, streaming turns, keys, slash commands.

Data flows one way: keys → app → ChatSession (in a worker thread) → events → a queue → a timer on
the UI thread that drains it in batches → widgets. The timer is paced (glmchat.tui.pacing): 30 times
a second when the UI has a core to itself, less often when the model's threads fill every core, so
repaints never slow the model. Events that end or redirect a turn wake the UI at once.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from glmchat.engine.base import CancelToken, Engine
from glmchat.errors import GlmchatError, UsageError
from glmchat.tui import commands, keys
from glmchat.tui.direct import DirectCommands
from glmchat.tui.pacing import FramePacer
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.dialogs import ConfirmScreen, PickScreen, TextPromptScreen
from glmchat.tui.screens.help import HelpScreen
from glmchat.tui.widgets.chat import (
    AssistantMessage,
    ChatLog,
    Copy,
    ErrorBlock,
    NoticeBlock,
    ThinkingPane,
    ToolBlock,
    UserMessage,
    Welcome,
    code_blocks,
)
from glmchat.tui.widgets.prompt import AttachmentBar, PromptInput, SlashPopup, describe_attachment
from glmchat.tui.widgets.sidebar import Sidebar
from glmchat.tui.widgets.status import WARN_FRACTION, StatusBar

EngineFactory = Callable[[Callable[[float, str], None]], Engine]
# model_factory(path, progress) → Engine: lets /model load another file; optional
ModelFactory = Callable[[str, Callable[[float, str], None]], Engine]


@dataclass
class _ThinkDone:
    """Queued by the turn worker when reasoning ends (times taken on the worker thread)."""

    seconds: float


GIL_SWITCH_INTERVAL = 0.0002  # seconds, while a turn runs (see _start_turn)


class _Wake(Message):
    """Posted by the turn worker after an event the UI should show now (not at the next paced frame)."""


@dataclass
class _TurnDone:
    """Queued by the turn worker after the session's last event."""

    ctx: tuple[int, int] | None
    last_event_at: float


def _merge(events: Iterable[Any]) -> Iterator[Any]:
    """Join runs of Thinking / Answer events into one (text, count) pair each; keep order."""
    from glmchat.glm import Answer, Thinking

    kind = None
    parts: list[str] = []
    for ev in events:
        k = Thinking if isinstance(ev, Thinking) else Answer if isinstance(ev, Answer) else None
        if k is not None and k is kind:
            parts.append(ev.text)
            continue
        if kind is not None:
            yield (kind, "".join(parts), len(parts))
            kind, parts = None, []
        if k is not None:
            kind, parts = k, [ev.text]
        else:
            yield ev
    if kind is not None:
        yield (kind, "".join(parts), len(parts))


class GlmchatApp(DirectCommands, App[int]):
    """The chat TUI. `engine_factory(progress)` loads the model in a background thread."""

    CSS_PATH = "app.tcss"
    TITLE = "glmchat"
    BINDINGS = keys.app_bindings()
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # app.tcss slims the sidebar when narrow
    SIDEBAR_MIN_COLUMNS = 90  # below this the sidebar starts hidden (Ctrl+B shows it)

    def __init__(
        self,
        settings: Any,
        *,
        engine_factory: EngineFactory,
        store: Any = None,
        conversation_id: int | None = None,
        continue_last: bool = False,
        tools_enabled: bool = False,
        workspace: Any = None,
        tools: Any = None,
        model_factory: ModelFactory | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        flush_interval: float = 1 / 30,
        drain_chars: int = 1_000_000,
        ui_cpu_budget: float = 0.02,
        system_clipboard: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.engine_factory = engine_factory
        self.model_factory = model_factory
        self.store = store
        self.start_conversation_id = conversation_id
        self.continue_last = continue_last
        self.tools_enabled = tools_enabled
        self.workspace = workspace
        self.tools = tools
        self.clock = clock
        self.timer = timer
        self.flush_interval = flush_interval
        self.drain_chars = drain_chars  # text applied per frame at most (by default a backlog goes in one frame: its tail renders first)
        self.pacer = FramePacer(flush_interval, budget=ui_cpu_budget)
        self._drain_timer: Any = None
        self._drain_lock = asyncio.Lock()
        self._blink = True  # the prompt's cursor_blink before a turn (off while a CPU-bound model runs)
        self._switch_interval: float | None = None  # sys.getswitchinterval() before the turn
        self._gc_paused = False  # cyclic GC is off while a local model streams
        self.system_clipboard = system_clipboard

        self.engine: Engine | None = None
        self.session: Any = None
        self.conversation_id: int | None = None
        self.load_error: GlmchatError | None = None
        self.loading = False
        self.generating = False
        self.held: list[str] = []  # messages typed before the model was ready
        self.editing = False
        self.theme_problems: list[str] = []
        self.last_render_delay: float | None = None  # the engine's last token → final render on screen, s
        self.last_backlog: float | None = None  # engine's last token → final render, s (UI lag)
        self._last_text_at = 0.0
        self._rendered_at: float | None = None
        self.turns_done = 0
        self.warmed = threading.Event()  # set once the Markdown warm-up (glmchat.tui.warmup) is done

        self._queue: collections.deque = collections.deque()
        self._cancel: CancelToken | None = None
        self._current: AssistantMessage | None = None
        self._think_started: float | None = None
        self._tokens = 0
        self._round_prompt = 0  # prompt tokens of the running generation (for the live context gauge)
        self._round_tokens = 0  # tokens generated so far in it
        self._first_token_at: float | None = None
        self._last_status_at = 0.0
        self._tool_blocks: dict[int, ToolBlock] = {}
        self._ctx_warned = False
        self._download: Any = None  # TuiDownloadProgress during a first-run download
        self._turn_idle = threading.Event()  # clear while a turn thread runs
        self._turn_idle.set()
        self._title_idle = threading.Event()  # clear while the model writes a title
        self._title_idle.set()
        self._title_cancel: CancelToken | None = None
        self._pending_title: str | None = None  # /title before the conversation was saved

    # ---- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(clock=self.clock, id="sidebar")
            with Vertical(id="main"):
                with Horizontal(id="loading", classes="-hidden"):
                    yield Static("Loading the model…", id="loading-text", markup=False)
                    yield ProgressBar(total=1.0, show_eta=False, id="loading-bar")
                yield ChatLog(id="chat")
                yield SlashPopup(id="slash-popup")
                yield AttachmentBar(id="attachments")
                yield PromptInput(id="prompt")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one("#sidebar", Sidebar)

    async def on_mount(self) -> None:
        self._register_themes()
        km = keys.keymap(self.settings.keys)
        if km:
            self.set_keymap(km)
        bad = keys.unknown_ids(self.settings.keys)
        if bad:
            await self.chat.add(NoticeBlock(f"Unknown key binding ids in [keys]: {', '.join(bad)} (see F1 for the ids).", "warning"))
        for problem in self.theme_problems:
            await self.chat.add(NoticeBlock(problem, "warning"))
        self.prompt.popup = self.query_one("#slash-popup", SlashPopup)
        self.sidebar.set_class(not self.settings.ui.sidebar or self.size.width < self.SIDEBAR_MIN_COLUMNS, "-hidden")
        self.screen.set_class(not self.settings.ui.show_thinking, "-hide-thinking")
        self.status.update_info(state="loading", thinking=self.settings.chat.thinking, profile=self.settings.chat.profile)
        self.prompt.focus()
        if self.store is not None and getattr(self.store, "notice", None):
            await self.chat.add(NoticeBlock(self.store.notice, "warning"))
        await self._open_initial()
        await self._show_welcome()
        self.refresh_sidebar()
        self._warm_up()
        self._start_load(self.engine_factory)

    @work(thread=True, group="warmup")
    def _warm_up(self) -> None:
        """First-use costs of Markdown and code highlighting, paid while the model loads."""
        from glmchat.tui.warmup import warm_up

        try:
            warm_up()
        finally:
            self.warmed.set()

    async def _show_welcome(self) -> None:
        """The welcome text on an empty chat (the model's name once it is loaded)."""
        if not self.chat.children:
            await self.chat.mount(Welcome(self._model_label(), id="welcome"))

    def _model_label(self) -> str | None:
        if self.engine is None:
            return None
        info = self.engine.info
        name = f"{info.model} {info.quant or ''}".strip()
        return f"{name} on {info.backend}" if info.backend else name

    def _runs_on(self) -> str:
        """Where the model runs, for the status bar: the offload plan, or the remote host."""
        info = self.engine.info if self.engine is not None else None
        if info is None:
            return ""
        if info.backend == "remote":
            return f"remote @ {info.where}"
        plan = (info.details or {}).get("plan")
        return str(plan) if plan else info.backend

    def _short_model_name(self) -> str:
        """The model's name, or the file's stem when the name is long and the stem is shorter
        (general.name is sometimes a training-run label)."""
        info = self.engine.info if self.engine is not None else None
        if info is None:
            return "no model"
        name = info.model
        if len(name) > 20 and info.where == "local" and info.path:
            stem = Path(info.path).stem
            if info.quant and stem.endswith(info.quant):
                stem = stem[: -len(info.quant)].rstrip(".-_ ")
            if stem and len(stem) < len(name):
                return stem
        return name

    def _register_themes(self) -> None:
        from glmchat.settings import config_dir
        from glmchat.tui.themes import load_themes

        themes, self.theme_problems = load_themes(config_dir() / "themes")
        for t in themes:
            self.register_theme(t)
        wanted = self.settings.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme_problems.append(f"Theme {wanted!r} not found; using glm-dark. /theme lists the themes.")
            self.theme = "glm-dark"

    async def _open_initial(self) -> None:
        cid = self.start_conversation_id
        if cid is None and self.continue_last and self.store is not None:
            recent = self.store.most_recent()
            cid = recent.id if recent else None
        if cid is not None:
            try:
                await self.show_conversation(cid)
            except GlmchatError as exc:
                await self.show_error(exc.message, exc.hint)
            except Exception as exc:
                await self.show_error(f"Cannot open conversation {cid}: {exc}.", "Pick another one in the sidebar (Ctrl+B).")

    # ---- start-up: the engine ------------------------------------------------------------------

    def _start_load(self, factory: EngineFactory) -> None:
        self.loading = True
        self.query_one("#loading").remove_class("-hidden")
        self._load_worker(factory)

    def _progress(self, fraction: float, text: str) -> None:
        """Called from the loader thread."""
        try:
            self.call_from_thread(self._show_progress, fraction, text)
        except RuntimeError:
            pass

    def _show_progress(self, fraction: float, text: str) -> None:
        if not self._alive():
            return
        self.query_one("#loading-bar", ProgressBar).update(progress=max(0.0, min(1.0, fraction)))
        self.query_one("#loading-text", Static).update(text or "Loading the model…")
        self.status.update_info(state=f"loading {fraction:.0%}")

    def _call_factory(self, factory: EngineFactory) -> Engine:
        """Call an engine factory; one that takes `download_progress` gets the download panel's."""
        import inspect

        try:
            takes_download = "download_progress" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_download = False
        if not takes_download:
            return factory(self._progress)
        from glmchat.tui.download import TuiDownloadProgress

        self._download = TuiDownloadProgress(self._post_download, n_ctx=self.settings.model.n_ctx)
        try:
            return factory(self._progress, download_progress=self._download)
        except KeyboardInterrupt:  # a cancelled transfer that was not turned into DownloadCancelled
            from glmchat.hub.errors import DownloadCancelled

            raise DownloadCancelled("Download cancelled; the partial file is kept.", "Run glmchat again to resume it.") from None

    @work(thread=True, exclusive=True, group="load")
    def _load_worker(self, factory: EngineFactory) -> None:
        try:
            engine = self._call_factory(factory)
        except GlmchatError as exc:
            outcome: tuple[Callable[..., Any], Any] = (self._load_failed, exc)
        except Exception as exc:  # never a traceback on screen
            outcome = (self._load_failed, GlmchatError(f"Loading the model failed: {exc}.", "Check the model path with `glmchat doctor`."))
        else:
            outcome = (self._engine_ready, engine)
        try:
            self.call_from_thread(*outcome)
        except RuntimeError:  # the app closed while loading
            if outcome[0] == self._engine_ready:
                engine.close()

    async def _load_failed(self, exc: GlmchatError) -> None:
        if not self._alive():
            return
        self.loading = False
        self.query_one("#loading").add_class("-hidden")
        await self._remove_download_panel()
        if self.engine is not None:  # a /model switch failed: the old model stays
            self.status.update_info(state="ready")
            await self.show_error(exc.message, exc.hint)
            await self.show_notice(f"Still using {self.engine.info.model}.")
            await self._send_held()
            return
        self.load_error = exc
        self.status.update_info(state="model not loaded")
        await self.show_error(exc.message, exc.hint)
        if self.held:
            await self.show_error("Your message was not sent: no model is loaded.", exc.hint)
            self.held.clear()

    # ---- first-run download (the loader thread posts here) ------------------------------------------

    def _post_download(self, what: str, data: Any) -> None:
        """Called from the loader thread by TuiDownloadProgress."""
        self.call_from_thread(getattr(self, f"_{what}"), data)

    async def _download_offer(self, offer: Any) -> None:
        from glmchat.tui.widgets.download import DownloadPanel

        if not self._alive():
            return
        self.query_one("#loading-text", Static).update("Waiting for the download…")
        self.status.update_info(state="download offered")
        await self.query_one("#main").mount(DownloadPanel(offer, id="download"), before=self.chat)

    def on_download_panel_decided(self, event: Any) -> None:
        event.stop()
        if self._download is None:  # no download was offered (a stray event)
            return
        self._download.decide(event.start)
        self.status.update_info(state="downloading" if event.start else "cancelling the download")
        if not event.start:
            self.prompt.focus()

    def _download_progress(self, snap: Any) -> None:
        from glmchat.tui.widgets.download import DownloadPanel

        if not self._alive():
            return
        for panel in self.query(DownloadPanel):
            panel.show_progress(snap)
        if snap.total and not (self._download is not None and self._download.cancel.is_set()):
            self.status.update_info(state=f"downloading {snap.done / snap.total:.0%}")

    async def _download_finished(self, snap: Any) -> None:
        if not self._alive():
            return
        self._download_progress(snap)
        await self._remove_download_panel()
        if snap.total and snap.done >= snap.total:
            self.query_one("#loading-text", Static).update("Download complete. Loading the model…")

    async def _remove_download_panel(self) -> None:
        from glmchat.tui.widgets.download import DownloadPanel

        panels = list(self.query(DownloadPanel))
        if panels:
            had_focus = any(self.focused is not None and (self.focused is p or p in self.focused.ancestors) for p in panels)
            for panel in panels:
                await panel.remove()
            if had_focus or self.focused is None:
                self.prompt.focus()

    def _alive(self) -> bool:
        """False while the app shuts down (a late loader result must not touch missing widgets)."""
        return self.is_running and bool(self.query("#status"))

    async def _engine_ready(self, engine: Engine) -> None:
        from glmchat.session import ChatSession

        if not self._alive():
            engine.close()
            return

        old = self.engine
        self.engine = engine
        self.loading = False
        await self._remove_download_panel()
        self.load_error = None
        self.query_one("#loading").add_class("-hidden")
        if self.session is None:
            self.session = ChatSession(
                engine,
                self.settings,
                store=self.store,
                conversation_id=self.conversation_id,
                tools=self.tools,
                tools_enabled=self.tools_enabled,
                workspace=self.workspace,
                approver=self._approve,
            )
        else:
            self.session.engine = engine
        if old is not None and old is not engine:
            try:
                old.close()
            except Exception:
                pass
        info = engine.info
        for welcome in self.chat.query(Welcome):
            welcome.set_model(self._model_label())
        if info.where == "local" and info.path and Path(info.path).is_file():
            from glmchat.tui.models import remember_model

            remember_model(info.path)
        self.status.update_info(
            model=self._short_model_name(), quant=info.quant, backend=self._runs_on(), state="ready", ctx_total=info.n_ctx
        )
        self._update_session_status()
        self._refresh_context()
        for note in (info.details or {}).get("notes") or []:  # e.g. the context was clamped
            await self.chat.mount(NoticeBlock(f"Note: {str(note).rstrip('.')}.", "warning"))  # the welcome stays
        await self._send_held()

    async def _send_held(self) -> None:
        """Send the messages typed while the model loaded (as one message)."""
        if self.held and self.session is not None and not self.generating:
            texts, self.held = self.held, []
            await self.chat.add(NoticeBlock("Model ready: sending your message."))
            self._start_turn(lambda cancel, t="\n\n".join(texts): self.session.send(t, cancel))

    def _update_session_status(self) -> None:
        if self.session is not None:
            self.status.update_info(profile=self.session.profile, thinking=self.session.thinking, tools=bool(self.session.tools_enabled))

    @work(thread=True, group="ctx")
    def _refresh_context(self) -> None:
        if self.session is None:
            return
        try:
            used, total = self.session.context_used()
        except Exception:
            return
        self.call_from_thread(self._show_context, used, total)

    async def _show_context(self, used: int, total: int) -> None:
        self.status.update_info(ctx_used=used, ctx_total=total)
        if total and used / total >= WARN_FRACTION and not self._ctx_warned:
            self._ctx_warned = True
            await self.chat.add(
                NoticeBlock(
                    ("Context full." if used >= total else f"Context {used / total:.0%} full.")
                    + " Older turns will be left out; /compact summarises them, Ctrl+N starts afresh.",
                    "warning",
                )
            )

    # ---- conversations ---------------------------------------------------------------------------

    def refresh_sidebar(self) -> None:
        if self.store is None:
            return
        try:
            convs = self.store.list_conversations()
        except Exception:
            return
        self.sidebar.show(convs, self.conversation_id)

    async def show_conversation(self, cid: int) -> None:
        """Render a stored conversation and make it the current one."""
        if self.store is None:
            raise GlmchatError("No conversation store is open.", "Run without --no-history.")
        msgs = self.store.messages(cid)
        self.conversation_id = cid
        self._pending_title = None
        await self.chat.remove_children()
        self._ctx_warned = False
        blocks: dict[str, ToolBlock] = {}
        for m in msgs:
            meta = m.meta or {}
            if m.role == "system" or meta.get("compacted"):
                continue
            if m.role == "user":
                await self.chat.mount(UserMessage(m.content) if not meta.get("summary") else NoticeBlock(m.content))
            elif m.role == "assistant":
                if m.reasoning or m.content:
                    msg = AssistantMessage()
                    await self.chat.mount(msg)
                    if m.reasoning:
                        await msg.add_thinking(m.reasoning, 0)
                        msg.thinking.finish(0.0)
                        msg.thinking.set_expanded(False)
                    msg.answer = m.content or ""
                    note = {"cancelled": "⏹ Stopped — partial answer", "error": "✖ Failed — partial answer"}.get(m.status)
                    await msg.finish(m.status if note else "complete", note)
                for c in m.tool_calls or []:
                    block = ToolBlock(c.get("name", "?"), c.get("arguments") or {})
                    await self.chat.mount(block)
                    if c.get("id"):
                        blocks[c["id"]] = block
            elif m.role == "tool":
                block = blocks.get(m.tool_call_id or "")
                if block is not None:
                    block.set_result(m.content, bool(meta.get("ok", True)), meta.get("decision", "auto"))
        self.chat.follow = True
        self.chat.scroll_end(animate=False)
        if self.session is not None:
            self.session.load(cid)
            self._update_session_status()
            self._refresh_context()
        self.sidebar.current_id = cid

    async def new_conversation(self) -> None:
        if self.generating:
            self.notify("Still generating; Esc stops it first.", severity="warning")
            return
        if self.session is not None:
            self.session.new()
        self.show_attachments()
        self.conversation_id = None
        self._pending_title = None
        self._ctx_warned = False
        await self.chat.remove_children()
        await self._show_welcome()
        self.refresh_sidebar()
        self._refresh_context()
        self.prompt.focus()

    @on(Sidebar.Open)
    async def _sidebar_open(self, event: Sidebar.Open) -> None:
        if self.generating:
            self.notify("Still generating; Esc stops it first.", severity="warning")
            return
        try:
            await self.show_conversation(event.conversation_id)
        except GlmchatError as exc:
            await self.show_error(exc.message, exc.hint)
        self.refresh_sidebar()
        self.prompt.focus()

    @on(Sidebar.New)
    async def _sidebar_new(self) -> None:
        await self.new_conversation()

    @on(Sidebar.Rename)
    def _sidebar_rename(self, event: Sidebar.Rename) -> None:
        cid = event.conversation_id
        current = next((c.title for c in self.sidebar.conversations if c.id == cid), "")

        def done(title: str | None) -> None:
            if title and title.strip():
                self.store.rename(cid, title.strip())
                self.refresh_sidebar()

        self.push_screen(TextPromptScreen("New title:", current), done)

    @on(Sidebar.Delete)
    def _sidebar_delete(self, event: Sidebar.Delete) -> None:
        cid = event.conversation_id
        title = next((c.title for c in self.sidebar.conversations if c.id == cid), "") or "Untitled"

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            self.store.delete(cid)
            if cid == self.conversation_id:
                await self.new_conversation()
            self.refresh_sidebar()

        self.push_screen(ConfirmScreen(f"Delete “{title}”? This cannot be undone.", yes="Delete"), done)

    # ---- sending and streaming ------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if commands.is_command(text):
            await self.run_slash(text)
            return
        await self.send(text)

    async def send(self, text: str) -> None:
        """Send a user message (or hold it until the model is ready)."""
        if self.generating:
            self.prompt.load_text(text)
            self.notify("Still generating; Esc stops it.", severity="warning")
            return
        if self.session is None or self.loading:
            if self.session is None and self.load_error is not None:
                await self.show_error("No model is loaded, so the message was not sent.", self.load_error.hint)
                return
            await self.chat.add(UserMessage(text))
            self.held.append(text)
            await self.chat.add(NoticeBlock("The model is still loading; your message will be sent when it is ready."))
            return
        if self.editing:
            self.editing = False
            await self._remove_from_last_user()
            await self.chat.add(UserMessage(text))
            self._start_turn(lambda cancel: self.session.edit_last(text, cancel))
            return
        await self.chat.add(UserMessage(text, attachments=[describe_attachment(*a) for a in self.session.pending_attachments]))
        self._start_turn(lambda cancel: self.session.send(text, cancel))
        self.query_one("#attachments", AttachmentBar).show([])

    def _start_turn(self, make: Callable[[CancelToken], Iterator[Any]]) -> None:
        self.generating = True
        self._cancel = CancelToken()
        self._current = None
        self._tokens = 0
        self._round_prompt = self._round_tokens = 0
        self._first_token_at = None
        self._think_started = None
        self._last_text_at = 0.0
        self._rendered_at = None
        self.chat.follow = True
        self.status.update_info(state="generating", live_tps=0.0)
        cpu_threads = getattr(getattr(self.engine, "info", None), "cpu_threads", 0) or 0
        self._schedule_drain(self.pacer.start(cpu_threads))
        self._blink = self.prompt.cursor_blink
        if self.pacer.contended:  # every repaint is taken from the model: not even a blinking cursor
            self.prompt.cursor_blink = False
        # The turn's thread needs the GIL for a moment after every token; by default a busy UI
        # thread keeps it for up to 5 ms first, which cost a local model ~9% of its speed at 30
        # repaints a second even with a core to spare, and holds up the end of a fast stream.
        # Hand it over within 0.2 ms instead while the turn runs.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        if cpu_threads and gc.isenabled():
            # A full cyclic collection holds the GIL for 30-120 ms (measured in a long session),
            # stopping the model's thread with it. None while a local model streams; one after.
            gc.disable()
            self._gc_paused = True
        if self._title_cancel is not None:
            self._title_cancel.cancel()  # the user's turn goes first; one engine, one stream at a time
        self._turn_idle.clear()
        self.call_after_refresh(self._launch_turn, make, self._cancel)

    async def _launch_turn(self, make: Callable[[CancelToken], Iterator[Any]], cancel: CancelToken) -> None:
        """Paint the turn's start (the user's message, an empty answer) before the model starts:
        with the model on every core, UI work that overlaps generation is taken from it."""
        if not self._alive():  # the app closed first: no turn to run
            self._turn_idle.set()
            return
        await self._ensure_current()
        self.call_after_refresh(self._turn_worker, make, cancel)

    @work(thread=True, group="turn")
    def _turn_worker(self, make: Callable[[CancelToken], Iterator[Any]], cancel: CancelToken) -> None:
        from glmchat.session import TurnFailed

        from glmchat.glm import Answer, Thinking

        q = self._queue
        think_start: float | None = None
        self._title_idle.wait(30)
        try:
            for ev in make(cancel):
                if isinstance(ev, Thinking):
                    if think_start is None:
                        think_start = self.timer()
                elif think_start is not None:
                    q.append(_ThinkDone(self.timer() - think_start))
                    think_start = None
                q.append(ev)
                if isinstance(ev, (Thinking, Answer)):
                    self._last_text_at = self.timer()  # when the engine's latest text reached the UI's queue
                else:
                    self.post_message(_Wake())
        except GlmchatError as exc:
            q.append(TurnFailed(exc.message, exc.hint))
        except Exception as exc:  # never a traceback on screen
            q.append(TurnFailed(f"Unexpected error: {exc}.", "The partial answer is kept; /retry to try again."))
        last = self.timer()
        ctx = None
        try:
            ctx = self.session.context_used()
        except Exception:
            pass
        finally:
            self._turn_idle.set()
        q.append(_TurnDone(ctx, last))
        self.post_message(_Wake())

    def _schedule_drain(self, delay: float, *, sooner: bool = False) -> None:
        if self._drain_timer is not None and sooner:
            self._drain_timer.stop()
            self._drain_timer = None
        if self._drain_timer is None:
            self._drain_timer = self.set_timer(delay, self._paced_drain, name="drain")

    async def _paced_drain(self) -> None:
        self._drain_timer = None
        await self._drain()
        if self.generating:
            self._schedule_drain(self.pacer.after_frame())

    @on(_Wake)
    async def _woken(self) -> None:
        await self._drain()
        if self._queue and self.generating:  # a backlog (e.g. at the end of a turn): keep going at full rate
            self._schedule_drain(self.flush_interval, sooner=True)

    async def _drain(self) -> None:
        """On the UI thread: apply queued events (up to `drain_chars` of text), merged into few repaints."""
        if not self._queue or not self._alive():  # (a late wake-up while the app closes finds no widgets)
            return
        async with self._drain_lock:  # the paced timer and a wake-up must not interleave their batches
            await self._drain_batch()

    async def _drain_batch(self) -> None:
        batch = []
        chars = 0
        while self._queue and chars < self.drain_chars:  # bounded work per frame; the rest waits a tick
            item = self._queue.popleft()
            batch.append(item)
            text = getattr(item, "text", None)
            if isinstance(text, str):
                chars += len(text)
        for item in _merge(batch):
            await self._apply(item)
        self.chat.keep_up()
        now = self.timer()
        if self.generating and self._first_token_at is not None and now - self._last_status_at > 0.25:
            self._last_status_at = now
            elapsed = now - self._first_token_at
            changes: dict[str, Any] = {"live_tps": self._tokens / elapsed} if elapsed > 0 else {}
            if self._round_prompt:
                changes["ctx_used"] = self._round_prompt + self._round_tokens
            self.status.update_info(**changes)

    async def _ensure_current(self) -> AssistantMessage:
        if self._current is None:
            await self.chat.drop_welcome()
            self._current = AssistantMessage()
            await self.chat.mount(self._current)
        return self._current

    async def _end_thinking(self, seconds: float | None = None) -> None:
        msg = self._current
        if msg is not None and msg.thinking is not None and not msg.thinking.done:
            if seconds is None:
                seconds = self.timer() - (self._think_started or self.timer())
            msg.thinking.finish(seconds, collapse=True)

    async def _apply(self, item: Any) -> None:
        from glmchat.glm import IncompleteToolCall, Thinking, ToolCall
        from glmchat.session import Notice, ToolResultEvent, TurnFailed, TurnFinished, TurnStarted

        if isinstance(item, tuple):
            kind, text, count = item
            self._tokens += count
            self._round_tokens += count
            if self._first_token_at is None:
                self._first_token_at = self.timer()
            msg = await self._ensure_current()
            if kind is Thinking:
                if self._think_started is None:
                    self._think_started = self.timer()
                await msg.add_thinking(text, count)
            else:
                await self._end_thinking()
                await msg.add_answer(text)
        elif isinstance(item, _ThinkDone):
            await self._end_thinking(item.seconds)
        elif isinstance(item, TurnStarted):
            if self._current is not None and (self._current.answer or self._current.thinking is not None):
                await self._current.finish("complete")
                self._current = None
            self._think_started = None
            self._round_prompt, self._round_tokens = item.prompt_tokens, 0
            await self._ensure_current()
        elif isinstance(item, ToolCall):
            await self._end_thinking()
            if self._current is not None:
                await self._current.finish("complete")
            block = ToolBlock(item.name, item.arguments)
            self._tool_blocks[id(item)] = block
            await self.chat.mount(block)
            self._current = None
        elif isinstance(item, IncompleteToolCall):
            await self.chat.mount(ErrorBlock("The model's tool call was cut off or malformed, so it was not run.", "Ask again, or /retry."))
        elif isinstance(item, ToolResultEvent):
            block = self._tool_blocks.pop(id(item.call), None)
            if block is None:
                block = next((b for b in reversed(list(self.chat.query(ToolBlock))) if not b.output), None)
            if block is not None:
                block.set_result(item.output, item.ok, item.decision, item.diff)
        elif isinstance(item, Notice):
            await self.chat.mount(NoticeBlock(item.text, item.level))
        elif isinstance(item, TurnFinished):
            await self._end_thinking()
            u = item.usage
            self.status.update_info(last_ttft=u.time_to_first_token, last_tps=u.generation_tokens_per_second, live_tps=None)
            if self._current is not None:
                note = {
                    "cancelled": "⏹ Stopped — partial answer",
                    "length": f"… Cut off: {u.note}" if u.note else "… Cut off: the token limit was reached",
                }.get(item.status)
                await self._current.finish(item.status, note)
            self.call_after_refresh(self._mark_rendered)
        elif isinstance(item, TurnFailed):
            await self._end_thinking()
            if self._current is not None and not self._current.answer and self._current.thinking is None:
                await self._current.remove()  # nothing came: the error block says it all
                self._current = None
            if self._current is not None:
                await self._current.finish("error", "✖ Failed — partial answer kept" if self._current.answer else None)
            await self.chat.mount(ErrorBlock(item.message, item.hint))
        elif isinstance(item, _TurnDone):
            await self._turn_done(item)

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
        self.last_backlog = self._rendered_at - engine_done_at
        self.turns_done += 1

    async def _turn_done(self, done: _TurnDone) -> None:
        if self._current is not None and self._current.status == "streaming":
            await self._current.finish("complete")
        self._current = None
        self.generating = False
        self._cancel = None
        self.prompt.cursor_blink = self._blink
        if self._restore_process_settings():
            self.call_after_refresh(gc.collect)  # the collection skipped during the turn, after the final paint
        self.call_after_refresh(self.chat.keep_up)
        self.call_after_refresh(self._count_turn, done.last_event_at)
        self.status.update_info(state="ready", live_tps=None)
        if self.session is not None:
            self.conversation_id = self.session.conversation_id
            if not self._apply_pending_title():
                self._maybe_model_title()
        if done.ctx:
            await self._show_context(*done.ctx)
        self._update_session_status()
        self.refresh_sidebar()

    def _apply_pending_title(self) -> bool:
        """Give the just-saved conversation the title asked for with /title; True when done."""
        title, cid = self._pending_title, self.conversation_id
        if title is None or cid is None or self.store is None:
            return False
        self._pending_title = None
        try:
            self.store.rename(cid, title)
        except Exception:
            return False
        return True

    def _maybe_model_title(self) -> None:
        """With [chat] model_titles on, ask the model for a title after the first exchange (in the
        background; the store already titled the conversation with the first message)."""
        session = self.session
        try:
            wanted = bool(session.wants_model_title())
        except Exception:
            wanted = False
        if not wanted:
            return
        self._title_cancel = CancelToken()
        self._title_idle.clear()
        self._title_worker(session, self._title_cancel)

    @work(thread=True, group="title")
    def _title_worker(self, session: Any, cancel: CancelToken) -> None:
        try:
            title = session.generate_title(cancel)
        except Exception:
            title = None
        finally:
            self._title_idle.set()
        if title:
            try:
                self.call_from_thread(self.refresh_sidebar)
            except RuntimeError:
                pass

    async def _remove_from_last_user(self) -> None:
        children = list(self.chat.children)
        idx = max((i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None)
        if idx is not None:
            await self.chat.remove_children(children[idx:])

    async def _remove_after_last_user(self) -> None:
        children = list(self.chat.children)
        idx = max((i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None)
        if idx is not None:
            await self.chat.remove_children(children[idx + 1 :])

    @on(PromptInput.CancelRequested)
    def _cancel_requested(self) -> None:
        self.action_cancel()

    # ---- approval (called from the turn worker thread) ------------------------------------------

    def _approve(self, call: Any, risk: str, preview: str) -> Any:
        from glmchat.session import Approval

        done = threading.Event()
        result: dict[str, Any] = {}

        def on_result(r: tuple[str, str | None] | None) -> None:
            result["r"] = r or ("deny", None)
            done.set()

        screen = ApprovalScreen(call.name, dict(call.arguments or {}), risk, preview or "")
        self.call_from_thread(self.push_screen, screen, on_result)
        cancel = self._cancel
        while not done.wait(0.05):
            if cancel is not None and cancel.cancelled:
                self.call_from_thread(screen.dismiss, ("deny", "Cancelled by the user."))
                done.wait(1.0)
                return Approval("deny", "Cancelled by the user.")
        decision, message = result["r"]
        return Approval(decision, message)

    # ---- errors and notices -------------------------------------------------------------------

    async def show_error(self, message: str, hint: str | None = None) -> None:
        await self.chat.add(ErrorBlock(message, hint))

    async def show_notice(self, text: str, level: str = "info") -> None:
        await self.chat.add(NoticeBlock(text, level))

    # ---- clipboard ----------------------------------------------------------------------------

    @on(Copy)
    def _copy_message(self, event: Copy) -> None:
        event.stop()
        self.copy_text(event.text, event.what)

    def copy_text(self, text: str, what: str = "text") -> None:
        """OSC 52 to the terminal, plus a system clipboard tool when one is installed."""
        self.copy_to_clipboard(text)
        if self.system_clipboard:
            self._system_copy(text)
        self.notify(f"Copied {what} ({len(text):,} characters).", timeout=2)

    @work(thread=True, group="clipboard")
    def _system_copy(self, text: str) -> None:
        for tool in (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]):
            if shutil.which(tool[0]):
                try:
                    subprocess.run(tool, input=text.encode(), timeout=3, check=False, capture_output=True)
                except (OSError, subprocess.SubprocessError):
                    continue
                return

    def answers(self) -> list[str]:
        return [m.answer for m in self.chat.query(AssistantMessage) if m.answer]

    # ---- key actions ---------------------------------------------------------------------------

    async def action_new_conversation(self) -> None:
        await self.new_conversation()

    def action_toggle_sidebar(self) -> None:
        sb = self.sidebar
        hidden = not sb.has_class("-hidden")
        sb.set_class(hidden, "-hidden")
        if not hidden:
            self.refresh_sidebar()
            self.query_one("#conversation-list").focus()
        else:
            self.prompt.focus()

    def action_toggle_thinking(self) -> None:
        hide = not self.screen.has_class("-hide-thinking")
        self.screen.set_class(hide, "-hide-thinking")
        self.settings.ui.show_thinking = not hide

    def action_expand_thinking(self) -> None:
        focused = self.focused
        panes = [focused] if isinstance(focused, ThinkingPane) else list(self.chat.query(ThinkingPane))[-1:]
        for pane in panes:
            pane.action_toggle()

    def action_copy_answer(self) -> None:
        answers = self.answers()
        if not answers:
            self.notify("Nothing to copy yet.", severity="warning")
            return
        self.copy_text(answers[-1], "the last answer")

    def action_copy_code(self) -> None:
        for answer in reversed(self.answers()):
            blocks = code_blocks(answer)
            if blocks:
                self.copy_text(blocks[-1], "the last code block")
                return
        self.notify("There is no code block to copy yet.", severity="warning")

    def action_cancel(self) -> None:
        stopped = self.cancel_direct()
        if not stopped and not self.generating:  # Esc also means the download panel's Cancel
            from glmchat.tui.widgets.download import DownloadPanel

            for panel in self.query(DownloadPanel):
                panel.action_cancel()
        if self.generating and self._cancel is not None:
            self._cancel.cancel()
            self.status.update_info(state="stopping")

    def on_unmount(self) -> None:
        self.stop_background()  # no thread may wait for a UI that has gone
        self._restore_process_settings()  # quit mid-turn: give the process its defaults back

    def _restore_process_settings(self) -> bool:
        """Undo what _start_turn changed for the whole process (the GIL switch interval, cyclic GC).
        True when GC had been paused."""
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        paused, self._gc_paused = self._gc_paused, False
        if paused:
            gc.enable()
        return paused

    async def action_quit(self) -> None:
        """Ctrl+Q / /quit: stop whatever runs in the background, then leave."""
        self.stop_background()
        self.exit(0)

    def stop_background(self) -> None:
        """Cancel a running answer, a title, a /run command and a download (each keeps what it has)."""
        if self._cancel is not None:
            self._cancel.cancel()
        if self._title_cancel is not None:
            self._title_cancel.cancel()
        self.cancel_direct()
        if self._download is not None:
            self._download.cancel.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        """After the app has exited: let the turn thread finish, snapshot the conversation for
        instant resume (`ChatSession.close()`), then close the engine. Never raises."""
        self.stop_background()
        self._turn_idle.wait(timeout)
        self._title_idle.wait(timeout)
        session, engine = self.session, self.engine
        closer = getattr(session, "close", None)
        if closer is not None:
            try:
                closer()
            except Exception:
                pass
        if engine is not None:
            try:
                engine.close()
            except Exception:
                pass

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.settings.keys))

    def action_focus_input(self) -> None:
        self.prompt.focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New conversation", "Start a new conversation (Ctrl+N)", self.action_new_conversation)
        yield SystemCommand("Toggle sidebar", "Show or hide the conversations (Ctrl+B)", self.action_toggle_sidebar)
        yield SystemCommand("Toggle thinking", "Show or hide the thinking panes (Ctrl+T)", self.action_toggle_thinking)
        yield SystemCommand("Expand last thought", "Expand or collapse the last thinking pane", self.action_expand_thinking)
        yield SystemCommand("Copy last answer", "Copy the last answer (Ctrl+Y)", self.action_copy_answer)
        yield SystemCommand("Copy last code block", "Copy the last code block (Ctrl+K)", self.action_copy_code)
        yield SystemCommand("Stop generating", "Cancel the running answer (Esc)", self.action_cancel)
        yield SystemCommand("Help", "Keys and slash commands (F1)", self.action_help)
        for c in commands.COMMANDS:
            if not c.args or c.args.startswith("["):
                yield SystemCommand(f"/{c.name}", c.description, lambda n=c.name: self.run_worker(self.run_slash("/" + n)))
        for name in self._glm_theme_names():
            yield SystemCommand(f"Theme: {name}", "Switch to this theme (remembered)", lambda n=name: self.run_worker(self.run_slash(f"/theme {n}")))

    def _glm_theme_names(self) -> list[str]:
        from glmchat.settings import config_dir
        from glmchat.tui.themes import load_themes

        return [t.name for t in load_themes(config_dir() / "themes")[0]]

    # ---- slash commands -------------------------------------------------------------------------

    async def run_slash(self, text: str) -> None:
        """Parse and run one slash command; failures show inline, never as a traceback."""
        try:
            cmd, raw, args = commands.parse(text)
            handler = getattr(self, f"slash_{cmd.name}")
            await handler(raw, args)
        except GlmchatError as exc:
            await self.show_error(exc.message, exc.hint)
        except Exception as exc:
            await self.show_error(f"{text.split()[0]} failed: {exc}.", "Check the arguments (/help).")

    def _need_session(self) -> Any:
        if self.session is None:
            if self.load_error is not None:
                raise GlmchatError("No model is loaded.", self.load_error.hint)
            raise GlmchatError("The model is still loading.", "Wait for it to finish, then try again.")
        return self.session

    def _need_idle(self) -> None:
        if self.generating:
            raise GlmchatError("An answer is still being generated.", "Press Esc to stop it first.")

    async def slash_help(self, raw: str, args: list[str]) -> None:
        self.action_help()

    async def slash_new(self, raw: str, args: list[str]) -> None:
        await self.new_conversation()

    async def slash_clear(self, raw: str, args: list[str]) -> None:
        await self.new_conversation()

    async def slash_quit(self, raw: str, args: list[str]) -> None:
        await self.action_quit()

    async def slash_retry(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        self._need_idle()
        if session.last_user_text() is None:
            raise GlmchatError("There is nothing to retry yet.", "Type a message first.")
        await self._remove_after_last_user()
        self._start_turn(lambda cancel: session.retry(cancel))

    async def slash_edit(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        self._need_idle()
        last = session.last_user_text()
        if last is None:
            raise GlmchatError("There is no message to edit yet.", "Type a message first.")
        self.editing = True
        self.prompt.load_text(last)
        self.prompt.move_cursor(self.prompt.document.end)
        await self.show_notice("Editing your last message: Enter resends it and replaces the answer.")

    async def slash_profile(self, raw: str, args: list[str]) -> None:
        if not args:
            current = self.session.profile if self.session else self.settings.chat.profile
            await self.show_notice(f"Profile: {current}. Known: {', '.join(sorted(self.settings.profiles))}.")
            return
        self._need_session().set_profile(args[0])
        self._update_session_status()
        await self.show_notice(f"Profile set to {args[0]}.")

    async def slash_think(self, raw: str, args: list[str]) -> None:
        if not args:
            current = self.session.thinking if self.session else self.settings.chat.thinking
            await self.show_notice(f"Thinking: {current} (on | off | preserve).")
            return
        self._need_session().set_thinking(args[0])
        self._update_session_status()
        self._refresh_context()
        await self.show_notice(f"Thinking mode set to {args[0]}.")

    async def slash_system(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        if not raw:
            await self.show_notice(f"System prompt: {session.system_prompt!r}" if session.system_prompt else "No system prompt. /system TEXT sets one, /system off clears it.")
            return
        text = None if raw.strip().lower() in ("off", "none", "clear") else raw
        session.set_system_prompt(text)
        self._refresh_context()
        await self.show_notice("System prompt cleared." if text is None else "System prompt set.")

    async def slash_title(self, raw: str, args: list[str]) -> None:
        if not raw:
            raise UsageError("/title needs the new title.", "Example: /title Fixing the parser")
        if self.store is None:
            raise GlmchatError("History is off, so conversations are not saved and have no titles.", "Run glmchat without --no-history to keep them.")
        if self.conversation_id is None:  # saved with the first message; the title waits till then
            self._pending_title = raw
            await self.show_notice(f"The conversation will be titled “{raw}” when it is saved (with your first message).")
            return
        self.store.rename(self.conversation_id, raw)
        self.refresh_sidebar()
        await self.show_notice(f"Renamed to “{raw}”.")

    async def slash_export(self, raw: str, args: list[str]) -> None:
        fmt = "md"
        rest = list(args)
        if rest and rest[0].lower() in ("md", "markdown", "json"):
            fmt = "json" if rest.pop(0).lower() == "json" else "md"
        if self.store is None or self.conversation_id is None:
            raise GlmchatError("There is nothing to export yet.", "Send a message first.")
        path = Path(rest[0]).expanduser() if rest else Path.cwd() / f"glmchat-{self.conversation_id}.{fmt}"
        if fmt == "json":
            import json

            data = self.store.export_json(self.conversation_id)
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2)
        else:
            text = self.store.export_markdown(self.conversation_id)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise GlmchatError(f"Cannot write {path}: {exc.strerror or exc}.", "Pick another path: /export md PATH") from None
        await self.show_notice(f"Exported to {path}.")

    async def slash_copy(self, raw: str, args: list[str]) -> None:
        answers = self.answers()
        n = 1
        if args:
            try:
                n = int(args[0])
            except ValueError:
                raise UsageError(f"/copy takes a number, not {args[0]!r}.", "/copy 2 copies the answer before the last.") from None
        if not answers:
            await self.show_notice("Nothing to copy yet.")
            return
        if n < 1 or n > len(answers):
            raise GlmchatError(f"There is no answer number {n} (this conversation has {len(answers)}).", "/copy 1 is the last answer.")
        self.copy_text(answers[-n], "the answer" if n == 1 else f"answer -{n}")

    async def slash_theme(self, raw: str, args: list[str]) -> None:
        names = self._glm_theme_names()
        if not args:
            await self.show_notice(f"Theme: {self.theme}. Available: {', '.join(names)}.")
            return
        name = args[0]
        if name not in self.available_themes:
            import difflib

            close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
            raise UsageError(f"Unknown theme {name!r}.", f"Available: {', '.join(close or names)}.")
        self.set_theme(name)
        await self.show_notice(f"Theme set to {name} (remembered).")

    def set_theme(self, name: str) -> None:
        from glmchat.settings import save_ui_choice

        self.theme = name
        self.settings.ui.theme = name
        try:
            save_ui_choice("theme", name, getattr(self.settings, "path", None))
        except OSError:
            self.notify("Could not save the theme choice to config.toml.", severity="warning")

    async def slash_compact(self, raw: str, args: list[str]) -> None:
        session = self._need_session()
        self._need_idle()
        await self.show_notice("Compacting: asking the model for a summary of the older turns…")
        self._start_turn(lambda cancel: session.compact(cancel))

    async def slash_model(self, raw: str, args: list[str]) -> None:
        self._need_idle()
        if self.model_factory is None:
            raise GlmchatError("Switching models is not available here.", "Restart glmchat with --model PATH or --quant NAME.")
        from glmchat.tui.models import model_choices

        current = self.engine.info.path if self.engine is not None else None
        choices = await self._in_thread(lambda: model_choices(self.settings.model.path, current))
        if args:
            wanted = args[0]
            match = next((c.path for c in choices if c.source == "downloaded" and c.label.split()[0].lower() == wanted.lower()), None)
            await self._switch_model(match or wanted)
            return
        items = [(c.path, c.label) for c in choices]

        async def chosen(path: str | None) -> None:
            if path:
                await self._switch_model(path)

        self.push_screen(
            PickScreen(
                "Pick a model (Enter loads it, Esc cancels):",
                items,
                "No downloaded quants or GGUF files opened before. `glmchat download` fetches one; /model PATH opens a file.",
            ),
            chosen,
        )

    async def _switch_model(self, path: str) -> None:
        factory = self.model_factory
        assert factory is not None
        if self.loading:
            raise GlmchatError("A model is already loading.", "Wait for it to finish, then pick again.")
        await self.show_notice(f"Loading {Path(path).name} in the background…")
        self._start_load(lambda progress: factory(path, progress))

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, fn)


def run_app(
    settings: Any,
    *,
    engine_factory: EngineFactory,
    store: Any,
    conversation_id: int | None = None,
    continue_last: bool = False,
    tools_enabled: bool = False,
    workspace: Any = None,
    model_factory: ModelFactory | None = None,
) -> int:
    """Run the TUI until the user quits; returns the exit code."""
    app = GlmchatApp(
        settings,
        engine_factory=engine_factory,
        store=store,
        conversation_id=conversation_id,
        continue_last=continue_last,
        tools_enabled=tools_enabled,
        workspace=workspace,
        model_factory=model_factory,
    )
    try:
        code = app.run()
    finally:
        app.shutdown()
        closer = getattr(store, "close", None)
        if closer:
            try:
                closer()
            except Exception:
                pass
    return code or 0
