"""Loading the model in the TUI: the engine factory on a loader thread, the first-run download
offer and its progress, the result (a ready engine or an error people can act on), and /model.

The loader thread never touches widgets: it posts typed messages (`LoadProgressed`, `EngineLoaded`,
`LoadFailed`, and the download messages of glmchat.tui.download) to the chat screen, which hands
them back to this controller on the UI thread.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual.message import Message
from textual.widgets import ProgressBar, Static

from glmchat.engine.base import Engine
from glmchat.errors import GlmchatError
from glmchat.tui.download import DownloadFinished, DownloadOffered, DownloadProgressed, TuiDownloadProgress
from glmchat.tui.widgets.download import DownloadPanel
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.user_message import UserMessage
from glmchat.tui.widgets.welcome import Welcome

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen

EngineFactory = Callable[..., Engine]  # factory(progress[, download_progress=…]) → Engine
# model_factory(path, progress) → Engine: lets /model load another file; optional
ModelFactory = Callable[[str, Callable[[float, str], None]], Engine]


class LoadProgressed(Message):
    def __init__(self, fraction: float, text: str) -> None:
        super().__init__()
        self.fraction = fraction
        self.text = text


class EngineLoaded(Message):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine


class LoadFailed(Message):
    def __init__(self, error: GlmchatError) -> None:
        super().__init__()
        self.error = error


class ModelLoader:
    """Loads engines for one chat screen; owns the loading state and the download panel."""

    def __init__(self, screen: ChatScreen, factory: EngineFactory, model_factory: ModelFactory | None) -> None:
        self.screen = screen
        self.factory = factory
        self.model_factory = model_factory
        self.loading = False
        self.load_error: GlmchatError | None = None
        self.download: TuiDownloadProgress | None = None  # during a first-run download

    # ---- UI thread: start ------------------------------------------------------------------------

    def start(self, factory: EngineFactory | None = None) -> None:
        self.loading = True
        self.screen.query_one("#loading").remove_class("-hidden")
        job = factory or self.factory
        self.screen.run_worker(lambda: self._load(job), thread=True, exclusive=True, group="load")

    def require_model_factory(self) -> ModelFactory:
        """What /model loads with; a GlmchatError saying so where switching is not available."""
        if self.model_factory is None:
            raise GlmchatError("Switching models is not available here.", "Restart glmchat with --model PATH or --quant NAME.")
        return self.model_factory

    async def switch_model(self, path: str) -> None:
        """/model: load another file in the background; the current model answers until it is ready."""
        factory = self.require_model_factory()
        if self.loading:
            raise GlmchatError("A model is already loading.", "Wait for it to finish, then pick again.")
        await self.screen.show_notice(f"Loading {Path(path).name} in the background…")
        self.start(lambda progress: factory(path, progress))

    # ---- loader thread -------------------------------------------------------------------------

    def _post(self, message: Message) -> None:
        """Post to the screen from the loader thread; RuntimeError when the screen has gone."""
        if not self.screen.post_message(message):
            raise RuntimeError("the chat screen has closed")

    def _progress(self, fraction: float, text: str) -> None:
        try:
            self._post(LoadProgressed(fraction, text))
        except RuntimeError:
            pass

    def _call_factory(self, factory: EngineFactory) -> Engine:
        """Call an engine factory; one that takes `download_progress` gets the download panel's."""
        try:
            takes_download = "download_progress" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_download = False
        if not takes_download:
            return factory(self._progress)
        self.download = TuiDownloadProgress(self._post, n_ctx=self.screen.settings.model.n_ctx)
        try:
            return factory(self._progress, download_progress=self.download)
        except KeyboardInterrupt:  # a cancelled transfer that was not turned into DownloadCancelled
            from glmchat.hub.errors import DownloadCancelled

            raise DownloadCancelled("Download cancelled; the partial file is kept.", "Run glmchat again to resume it.") from None

    def _load(self, factory: EngineFactory) -> None:
        engine: Engine | None = None
        try:
            engine = self._call_factory(factory)
            outcome: Message = EngineLoaded(engine)
        except GlmchatError as exc:
            outcome = LoadFailed(exc)
        except Exception as exc:  # never a traceback on screen
            outcome = LoadFailed(GlmchatError(f"Loading the model failed: {exc}.", "Check the model path with `glmchat doctor`."))
        try:
            self._post(outcome)
        except RuntimeError:  # the app closed while loading
            if engine is not None:
                engine.close()

    # ---- UI thread: what the loader thread posted ------------------------------------------------

    def show_progress(self, fraction: float, text: str) -> None:
        if not self.screen.alive():
            return
        self.screen.query_one("#loading-bar", ProgressBar).update(progress=max(0.0, min(1.0, fraction)))
        self.screen.query_one("#loading-text", Static).update(text or "Loading the model…")
        self.screen.status.update_info(state=f"loading {fraction:.0%}")

    async def failed(self, exc: GlmchatError) -> None:
        screen = self.screen
        if not screen.alive():
            return
        self.loading = False
        screen.query_one("#loading").add_class("-hidden")
        await self.remove_download_panel()
        if screen.engine is not None:  # a /model switch failed: the old model stays
            screen.status.update_info(state="ready")
            await screen.show_error(exc.message, exc.hint)
            await screen.show_notice(f"Still using {screen.engine.info.model}.")
            await screen.send_held()
            return
        self.load_error = exc = with_ways_out(exc)
        screen.status.update_info(state="model not loaded")
        await self._keep_the_welcome()
        await screen.chat.mount(ErrorBlock(exc.message, exc.hint))  # mount, not add: the welcome stays
        if screen.held:  # typed while loading: back into the input, to send once a model is there
            texts, screen.held = screen.held, []
            self.keep_in_input("\n\n".join(texts))
            await screen.chat.mount(NoticeBlock("Your message was not sent: it is back in the input. Load a model (/model), then press Enter.", "warning"))
        screen.chat.keep_up()

    async def _keep_the_welcome(self) -> None:
        """No model: messages held for it leave the log, and an empty chat keeps its welcome."""
        chat = self.screen.chat
        for widget in list(chat.query(".-held")):
            await widget.remove()
        welcomes = list(chat.query(Welcome))
        if not welcomes and not chat.query(UserMessage):
            welcome = Welcome(None, id="welcome")
            await chat.mount(welcome, before=0 if chat.children else None)
            welcomes = [welcome]
        for welcome in welcomes:
            welcome.set_unloaded()

    def keep_in_input(self, text: str) -> None:
        """A message that could not be sent goes back into the input (before anything typed since)."""
        prompt = self.screen.prompt
        current = prompt.text
        prompt.load_text(text if not current.strip() else f"{text}\n\n{current}")
        prompt.move_cursor(prompt.document.end)

    async def loaded(self, engine: Engine) -> None:
        screen = self.screen
        if not screen.alive():
            engine.close()
            return
        old = screen.engine
        self.loading = False
        self.load_error = None
        await self.remove_download_panel()
        screen.query_one("#loading").add_class("-hidden")
        screen.use_engine(engine)
        screen.show_attachments()  # counted with the model's tokenizer now
        if old is not None and old is not engine:
            try:
                old.close()
            except Exception:
                pass
        info = engine.info
        for welcome in screen.chat.query(Welcome):
            welcome.set_model(model_label(engine))
        if info.where == "local" and info.path and Path(info.path).is_file():
            from glmchat.tui.model_choices import remember_model

            remember_model(info.path)
        screen.status.update_info(model=info.model, quant=info.quant, backend=runs_on(engine), state="ready", ctx_total=info.n_ctx)
        screen.update_session_status()
        screen.refresh_context()
        for note in (info.details or {}).get("notes") or []:  # e.g. the context was clamped
            await screen.chat.mount(NoticeBlock(f"Note: {str(note).rstrip('.')}.", "warning"))  # the welcome stays
        await screen.send_held()

    # ---- the first-run download panel --------------------------------------------------------------

    async def download_offered(self, event: DownloadOffered) -> None:
        screen = self.screen
        if not screen.alive():
            return
        screen.query_one("#loading-text", Static).update("Waiting for the download…")
        screen.status.update_info(state="download offered")
        await screen.query_one("#main").mount(DownloadPanel(event.offer, id="download"), before=screen.chat)

    def decided(self, start: bool) -> None:
        if self.download is None:  # no download was offered (a stray event)
            return
        self.download.decide(start)
        self.screen.status.update_info(state="downloading" if start else "cancelling the download")
        if not start:
            self.screen.prompt.focus()

    def download_progressed(self, event: DownloadProgressed | DownloadFinished) -> None:
        if not self.screen.alive():
            return
        snap = event.snapshot
        for panel in self.screen.query(DownloadPanel):
            panel.show_progress(snap)
        if snap.total and not (self.download is not None and self.download.cancel.is_set()):
            self.screen.status.update_info(state=f"downloading {snap.done / snap.total:.0%}")

    async def download_finished(self, event: DownloadFinished) -> None:
        if not self.screen.alive():
            return
        self.download_progressed(event)
        await self.remove_download_panel()
        snap = event.snapshot
        if snap.total and snap.done >= snap.total:
            self.screen.query_one("#loading-text", Static).update("Download complete. Loading the model…")

    async def remove_download_panel(self) -> None:
        screen = self.screen
        panels = list(screen.query(DownloadPanel))
        if panels:
            focused = screen.focused
            had_focus = any(focused is not None and (focused is p or p in focused.ancestors) for p in panels)
            for panel in panels:
                await panel.remove()
            if had_focus or screen.focused is None:
                screen.prompt.focus()

    def cancel_download(self) -> bool:
        """Esc with the download panel showing: its Cancel. True when there was a panel."""
        panels = list(self.screen.query(DownloadPanel))
        for panel in panels:
            panel.action_cancel()
        return bool(panels)

    def stop(self) -> None:
        """Quitting: stop a running download (the partial file is kept)."""
        if self.download is not None:
            self.download.cancel.set()


def with_ways_out(exc: GlmchatError) -> GlmchatError:
    """A failure to fetch the model (the Hub unreachable, offline, a failed download) with both ways
    out: a GGUF file already on disk, or the Hub another way. Other errors are returned as they are."""
    from glmchat.hub.errors import DownloadCancelled, HubError

    if not isinstance(exc, HubError) or isinstance(exc, DownloadCancelled):
        return exc
    return GlmchatError(
        exc.message,
        "With a GGUF file on disk: /model PATH loads it now (next time, glmchat --model PATH). "
        "To fetch the model: once online, run `glmchat download` (or start glmchat again); behind a mirror, "
        "set HF_ENDPOINT=URL; HF_HUB_OFFLINE=1 uses only files already downloaded.",
    )


# ---- how the loaded model is named on screen ----------------------------------------------------


def model_label(engine: Engine | None) -> str | None:
    if engine is None:
        return None
    info = engine.info
    name = f"{info.model} {info.quant or ''}".strip()
    return f"{name} on {info.backend}" if info.backend else name


def runs_on(engine: Engine) -> str:
    """Where the model runs, for the status bar: the offload plan, or the remote host."""
    info = engine.info
    if info.backend == "remote":
        return f"remote @ {info.where}"
    plan = (info.details or {}).get("plan")
    return str(plan) if plan else info.backend
