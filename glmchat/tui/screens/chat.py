"""The chat screen: the layout, the state of the chat (engine, session, held messages), and the
routing of widget and worker messages to the controllers that do the work:

- `ModelLoader` (glmchat.tui.model_loader): loading, the download offer, /model;
- `TurnRunner` (glmchat.tui.turn_runner): one streaming turn at a time;
- `Conversations` (glmchat.tui.conversations): open, new, rename, delete, titles;
- slash commands (glmchat.tui.commands) and the direct workspace commands' runner
  (glmchat.tui.direct_runner).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from glmchat.engine.base import Engine
from glmchat.errors import GlmchatError
from glmchat.tui import commands
from glmchat.tui.attachments import Attachments
from glmchat.tui.conversations import Conversations
from glmchat.tui.custom_slash import CustomSlash
from glmchat.tui.direct_runner import DirectRunner
from glmchat.tui.mention_files import attach_mentions, list_for_picker
from glmchat.tui.download import DownloadFinished, DownloadOffered, DownloadProgressed
from glmchat.tui.model_loader import EngineLoaded, LoadFailed, LoadProgressed, ModelLoader
from glmchat.tui.turn_runner import TurnMaker, TurnRunner, Wake
from glmchat.tui.widgets.attachment_bar import AttachmentBar, describe_attachment
from glmchat.tui.widgets.chat_log import ChatLog
from glmchat.tui.widgets.download import DownloadPanel
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.file_picker import FilePicker
from glmchat.tui.widgets.messages import AttachRequested, Copy
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.prompt_input import PromptInput
from glmchat.tui.widgets.sidebar import Sidebar
from glmchat.tui.widgets.slash_popup import SlashPopup
from glmchat.tui.widgets.status import WARN_FRACTION, StatusBar
from glmchat.tui.widgets.thinking_pane import ThinkingPane
from glmchat.tui.widgets.user_message import UserMessage


class ChatScreen(Screen):
    """One chat: sidebar, log, input, status bar. The app's default screen."""

    SIDEBAR_MIN_COLUMNS = 90  # below this the sidebar starts hidden (Ctrl+B shows it)

    def __init__(self, options: Any) -> None:
        super().__init__()
        self.options = options  # glmchat.tui.app.ChatOptions
        self.settings = options.settings
        self.history = options.history
        self._start_notices: list[str] = []  # problems the app found while starting (themes, key ids)
        self._mounted = False
        self.engine: Engine | None = None
        self.session: Any = None  # glmchat.session.ChatSession, once a model is loaded
        self.agent_mode = "default"  # glmchat.tools.modes; Shift+Tab cycles it, the session gets it when it starts
        self.held: list[str] = []  # messages typed before the model was ready
        self.editing = False
        self._ctx_warned = False
        self.loader = ModelLoader(self, options.engine_factory, options.model_factory)
        self.turns = TurnRunner(
            self,
            on_end=self._turn_ended,
            timer=options.timer,
            flush_interval=options.flush_interval,
            drain_chars=options.drain_chars,
            ui_cpu_budget=options.ui_cpu_budget,
        )
        self.conversations = Conversations(self, options.history, clock=options.clock)
        self.direct = DirectRunner(self)
        self.attachments = Attachments(self)  # for the next message; held here until a session exists
        self.custom_commands = CustomSlash(self)  # your own /NAME commands (files)

    # ---- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(clock=self.options.clock, id="sidebar")
            with Vertical(id="main"):
                with Horizontal(id="loading", classes="-hidden"):
                    yield Static("Loading the model…", id="loading-text", markup=False)
                    yield ProgressBar(total=1.0, show_eta=False, id="loading-bar")
                yield ChatLog(id="chat")
                yield SlashPopup(id="slash-popup")
                yield FilePicker(id="file-picker")
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

    @property
    def conversation_id(self) -> int | None:
        return self.conversations.current_id

    @property
    def generating(self) -> bool:
        return self.turns.generating

    @property
    def loading(self) -> bool:
        return self.loader.loading

    @property
    def load_error(self) -> GlmchatError | None:
        return self.loader.load_error

    async def show_start_notices(self, problems: list[str]) -> None:
        """Problems the app found while starting: shown now, or when the chat has mounted."""
        self._start_notices += problems
        if self._mounted:
            await self._flush_start_notices()

    async def _flush_start_notices(self) -> None:
        notices, self._start_notices = self._start_notices, []
        for problem in notices:
            await self.chat.add(NoticeBlock(problem, "warning"))

    async def on_mount(self) -> None:
        settings = self.settings
        self._mounted = True
        await self._flush_start_notices()
        self.prompt.popup = self.query_one("#slash-popup", SlashPopup)
        self.prompt.picker = self.query_one("#file-picker", FilePicker)
        self.custom_commands.load()
        self.sidebar.set_class(not settings.ui.sidebar or self.app.size.width < self.SIDEBAR_MIN_COLUMNS, "-hidden")
        self.set_class(not settings.ui.show_thinking, "-hide-thinking")
        self.status.update_info(state="loading", thinking=settings.chat.thinking, profile=settings.chat.profile)
        self.prompt.focus()
        if self.history is not None and self.history.notice:
            await self.chat.add(NoticeBlock(self.history.notice, "warning"))
        await self.conversations.open_initial(self.options.conversation_id, self.options.continue_last)
        await self.conversations.show_welcome()
        self.conversations.refresh_sidebar()
        self.loader.start()

    def alive(self) -> bool:
        """False while the app shuts down (a late worker result must not touch missing widgets)."""
        return self.app.is_running and self.is_attached and bool(self.query("#status"))

    # ---- the engine and the session --------------------------------------------------------------

    def use_engine(self, engine: Engine) -> None:
        """A model finished loading: start the session on it, or move the session over to it."""
        self.engine = engine
        if self.session is None:
            from glmchat.session import ChatSession

            self.session = ChatSession(
                engine,
                self.settings,
                store=self.history.store if self.history is not None else None,
                conversation_id=self.conversation_id,
                tools=self.options.tools,
                tools_enabled=self.options.tools_enabled,
                workspace=self.options.workspace,
                approver=self.turns.approve,
            )
            self.session.approval.set_mode(self.agent_mode)
            self.attachments.hand_over(self.session)  # files attached while the model loaded
        else:
            self.session.use_engine(engine)

    def need_session(self) -> Any:
        if self.session is None:
            if self.load_error is not None:
                raise GlmchatError("No model is loaded.", self.load_error.hint)
            raise GlmchatError("The model is still loading.", "Wait for it to finish, then try again.")
        return self.session

    def need_idle(self) -> None:
        if self.generating:
            raise GlmchatError("An answer is still being generated.", "Press Esc to stop it first.")

    def update_session_status(self) -> None:
        if self.session is not None:
            thinks = self.engine is not None and self.engine.info.thinking  # a model that does not think shows no mode
            self.status.update_info(profile=self.session.profile, thinking=self.session.thinking if thinks else "", tools=bool(self.session.tools_enabled))

    def refresh_context(self) -> None:
        """Count the next prompt's tokens in the background; the status bar shows them."""
        session = self.session
        if session is None:
            return

        def count() -> None:
            try:
                used, total = session.context_used()
            except Exception:
                return
            try:
                self.app.call_from_thread(self.show_context, used, total)
            except RuntimeError:
                pass

        self.run_worker(count, thread=True, group="ctx")

    async def show_context(self, used: int, total: int) -> None:
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

    def reset_context_warning(self) -> None:
        self._ctx_warned = False

    # ---- sending ---------------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        if commands.is_command(event.text):
            await self.run_slash(event.text)
            return
        self.query_one("#file-picker", FilePicker).forget_files()  # the next @ lists the workspace again
        if await attach_mentions(self, event.text):  # @path: the file goes with the message
            await self.send(event.text)

    async def run_slash(self, text: str) -> None:
        await self.custom_commands.known(text)
        await commands.run(self, text)

    async def send(self, text: str) -> None:
        """Send a user message (or hold it until the model is ready)."""
        if self.generating:
            self.prompt.load_text(text)
            self.notify("Still generating; Esc stops it.", severity="warning")
            return
        if self.session is None or self.loading:
            if self.session is None and self.load_error is not None:
                self.loader.keep_in_input(text)
                await self.show_error("No model is loaded, so the message was not sent; it is back in the input.", self.load_error.hint)
                return
            attached = [describe_attachment(*a) for a in self.attachments.pending]
            await self.chat.add(UserMessage(text, attachments=attached, classes="-held"))
            self.held.append(text)
            await self.chat.add(NoticeBlock("The model is still loading; your message will be sent when it is ready.", classes="-held"))
            return
        session = self.session
        if self.editing:
            self.editing = False
            await self.chat.remove_from_last_user()
            await self.chat.add(UserMessage(text))
            self.start_turn(lambda cancel: session.edit_last(text, cancel))
            return
        await self.chat.add(UserMessage(text, attachments=[describe_attachment(*a) for a in session.pending_attachments]))
        self.start_turn(lambda cancel: session.send(text, cancel))
        self.query_one("#attachments", AttachmentBar).show([])

    async def send_held(self) -> None:
        """Send the messages typed while the model loaded (as one message)."""
        if self.held and self.session is not None and not self.generating:
            texts, self.held = self.held, []
            session = self.session
            for widget in self.chat.query(".-held"):
                widget.remove_class("-held")  # sent now
            await self.chat.add(NoticeBlock("Model ready: sending your message."))
            self.start_turn(lambda cancel, t="\n\n".join(texts): session.send(t, cancel))
            self.query_one("#attachments", AttachmentBar).show([])

    def start_turn(self, make: TurnMaker) -> None:
        self.turns.start(make)

    async def _turn_ended(self) -> None:
        await self.conversations.turn_ended()
        self.update_session_status()

    def answers(self) -> list[str]:
        return self.chat.answer_texts()  # stored answers not mounted yet included

    def show_attachments(self) -> None:
        """Refresh the chip bar from the pending attachments (with their token figures)."""
        self.attachments.show()

    # ---- errors and notices -------------------------------------------------------------------

    async def show_error(self, message: str, hint: str | None = None) -> None:
        await self.chat.add(ErrorBlock(message, hint))

    async def show_notice(self, text: str, level: str = "info") -> None:
        await self.chat.add(NoticeBlock(text, level))

    # ---- messages from widgets and workers ---------------------------------------------------------

    @on(Wake)
    async def _woken(self) -> None:
        await self.turns.woken()

    @on(LoadProgressed)
    def _load_progressed(self, event: LoadProgressed) -> None:
        self.loader.show_progress(event.fraction, event.text)

    @on(EngineLoaded)
    async def _engine_loaded(self, event: EngineLoaded) -> None:
        await self.loader.loaded(event.engine)

    @on(LoadFailed)
    async def _load_failed(self, event: LoadFailed) -> None:
        await self.loader.failed(event.error)

    @on(DownloadOffered)
    async def _download_offered(self, event: DownloadOffered) -> None:
        await self.loader.download_offered(event)

    @on(DownloadProgressed)
    def _download_progressed(self, event: DownloadProgressed) -> None:
        self.loader.download_progressed(event)

    @on(DownloadFinished)
    async def _download_finished(self, event: DownloadFinished) -> None:
        await self.loader.download_finished(event)

    @on(DownloadPanel.Decided)
    def _download_decided(self, event: DownloadPanel.Decided) -> None:
        event.stop()
        self.loader.decided(event.start)
        if event.start:  # typing goes on during the download (Esc still cancels it, from anywhere)
            self.prompt.focus()

    @on(Sidebar.Open)
    async def _sidebar_open(self, event: Sidebar.Open) -> None:
        await self.conversations.open_from_sidebar(event.conversation_id)

    @on(Sidebar.New)
    async def _sidebar_new(self) -> None:
        await self.conversations.new()

    @on(Sidebar.Rename)
    def _sidebar_rename(self, event: Sidebar.Rename) -> None:
        self.conversations.ask_rename(event.conversation_id)

    @on(Sidebar.Delete)
    def _sidebar_delete(self, event: Sidebar.Delete) -> None:
        self.conversations.ask_delete(event.conversation_id)

    @on(FilePicker.FilesWanted)
    def _files_wanted(self, event: FilePicker.FilesWanted) -> None:
        event.stop()
        list_for_picker(self, self.query_one("#file-picker", FilePicker))

    @on(PromptInput.CancelRequested)
    def _cancel_requested(self) -> None:
        self.cancel()

    @on(Copy)
    def _copy(self, event: Copy) -> None:
        event.stop()
        self.app.copy_text(event.text, event.what)

    @on(AttachRequested)
    async def _attach_requested(self, event: AttachRequested) -> None:
        event.stop()
        try:
            await self.direct.attach(event.label, event.text)
        except GlmchatError as exc:
            await self.show_error(exc.message, exc.hint)

    # ---- what the keys do here (the app's bindings call these) ---------------------------------------

    def toggle_sidebar(self) -> None:
        sb = self.sidebar
        hidden = not sb.has_class("-hidden")
        sb.set_class(hidden, "-hidden")
        if not hidden:
            self.conversations.refresh_sidebar()
            self.query_one("#conversation-list").focus()
        else:
            self.prompt.focus()

    def cycle_mode(self) -> None:
        """Shift+Tab: default → accept edits → plan mode → default, from the next tool call on."""
        from glmchat.tools.modes import next_mode

        self.agent_mode = next_mode(self.agent_mode)
        if self.session is not None:
            self.session.approval.set_mode(self.agent_mode)
            self.refresh_context()  # plan mode changes the system prompt and the tools offered
        self.status.update_info(mode=self.agent_mode)

    def toggle_thinking(self) -> None:
        hide = not self.has_class("-hide-thinking")
        self.set_class(hide, "-hide-thinking")
        self.settings.ui.show_thinking = not hide

    def expand_thinking(self) -> None:
        focused = self.focused
        panes = [focused] if isinstance(focused, ThinkingPane) else list(self.chat.query(ThinkingPane))[-1:]
        for pane in panes:
            pane.action_toggle()

    def copy_answer(self) -> None:
        answers = self.answers()
        if not answers:
            self.notify("Nothing to copy yet.", severity="warning")
            return
        self.app.copy_text(answers[-1], "the last answer")

    def copy_code(self) -> None:
        from glmchat.tui.markdown_segments import code_blocks

        for answer in reversed(self.answers()):
            blocks = code_blocks(answer)
            if blocks:
                self.app.copy_text(blocks[-1], "the last code block")
                return
        self.notify("There is no code block to copy yet.", severity="warning")

    def cancel(self) -> None:
        """Esc: stop a direct command, else the download (its Cancel), and the running answer."""
        stopped = self.direct.cancel()
        if not stopped and not self.generating:
            self.loader.cancel_download()
        if self.turns.stop():
            self.status.update_info(state="stopping")

    def stop_background(self) -> None:
        """Cancel a running answer, a title, a /run command and a download (each keeps what it has)."""
        if self.turns.cancel is not None:
            self.turns.cancel.cancel()
        self.conversations.stop_title()
        self.direct.cancel()
        self.loader.stop()

    def wait_background(self, timeout: float) -> None:
        """From a plain thread after the app exited: wait for the turn and title threads to end."""
        self.turns.idle.wait(timeout)
        self.conversations.title_idle.wait(timeout)

    def on_unmount(self) -> None:
        self.stop_background()  # no thread may wait for a UI that has gone
        self.turns.restore_process_settings()  # quit mid-turn: give the process its defaults back


