"""The glmchat Textual app: what is app-wide — themes, key bindings and the keymap, the command
palette, help, the clipboard, quit and shutdown. The chat itself is `ChatScreen`
(glmchat.tui.screens.chat), the app's default screen.

Data flows one way: keys → chat screen → ChatSession (in a worker thread) → events → a queue →
a paced drain on the UI thread → widgets (glmchat.tui.turn_runner).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from textual.actions import SkipAction
from textual.app import App, SystemCommand
from textual.screen import Screen

from glmchat.tui import commands, keys
from glmchat.tui.model_loader import EngineFactory, ModelFactory
from glmchat.tui.screens.chat import ChatScreen
from glmchat.tui.screens.help import HelpScreen


@dataclass
class ChatOptions:
    """What the chat screen starts with (from the command line, or a test)."""

    settings: Any
    engine_factory: EngineFactory
    history: Any = None  # glmchat.history.History, or None with --no-history
    conversation_id: int | None = None
    continue_last: bool = False
    tools_enabled: bool = False
    workspace: Any = None
    tools: Any = None
    model_factory: ModelFactory | None = None
    clock: Callable[[], float] = time.time
    timer: Callable[[], float] = time.perf_counter
    flush_interval: float = 1 / 30
    drain_chars: int = 1_000_000
    ui_cpu_budget: float = 0.02


class GlmchatApp(App[int]):
    """The chat TUI. `engine_factory(progress)` loads the model in a background thread."""

    CSS_PATH = "app.tcss"
    TITLE = "glmchat"
    BINDINGS = keys.app_bindings()
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # app.tcss slims the sidebar when narrow

    def __init__(self, settings: Any, *, engine_factory: EngineFactory, system_clipboard: bool = True, **options: Any) -> None:
        super().__init__()
        self.settings = settings
        self.options = ChatOptions(settings, engine_factory, **options)
        self.system_clipboard = system_clipboard
        self.chat_screen: ChatScreen | None = None
        self.warmed = threading.Event()  # set once the Markdown warm-up (glmchat.tui.warmup) is done

    async def on_mount(self) -> None:
        problems = self._register_themes()
        km = keys.keymap(self.settings.keys)
        if km:
            self.set_keymap(km)
        bad = keys.unknown_ids(self.settings.keys)
        if bad:
            problems.insert(0, f"Unknown key binding ids in [keys]: {', '.join(bad)} (see F1 for the ids).")
        self.run_worker(self._warm_up, thread=True, group="warmup")
        await self._chat().show_start_notices(problems)

    def get_default_screen(self) -> Screen:
        self.chat_screen = ChatScreen(self.options)
        return self.chat_screen

    def _warm_up(self) -> None:
        """First-use costs of Markdown and code highlighting, paid while the model loads."""
        from glmchat.tui.warmup import warm_up

        try:
            warm_up()
        finally:
            self.warmed.set()

    # ---- themes ----------------------------------------------------------------------------------

    def _register_themes(self) -> list[str]:
        """Register the bundled and user themes and pick the configured one; the problems found."""
        from glmchat.settings import config_dir
        from glmchat.tui.themes import load_themes

        themes, problems = load_themes(config_dir() / "themes")
        for t in themes:
            self.register_theme(t)
        wanted = self.settings.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            problems.append(f"Theme {wanted!r} not found; using glm-dark. /theme lists the themes.")
            self.theme = "glm-dark"
        return problems

    def glm_theme_names(self) -> list[str]:
        from glmchat.settings import config_dir
        from glmchat.tui.themes import load_themes

        return [t.name for t in load_themes(config_dir() / "themes")[0]]

    def set_theme(self, name: str) -> None:
        from glmchat.settings import save_ui_choice

        self.theme = name
        self.settings.ui.theme = name
        try:
            save_ui_choice("theme", name, getattr(self.settings, "path", None))
        except OSError:
            self.notify("Could not save the theme choice to config.toml.", severity="warning")

    # ---- clipboard ----------------------------------------------------------------------------

    def copy_text(self, text: str, what: str = "text") -> None:
        """OSC 52 to the terminal, plus a system clipboard tool when one is installed."""
        self.copy_to_clipboard(text)
        if self.system_clipboard:
            from glmchat.clipboard import copy_to_system_clipboard

            self.run_worker(lambda: copy_to_system_clipboard(text), thread=True, group="clipboard")
        self.notify(f"Copied {what} ({len(text):,} characters).", timeout=2)

    # ---- key actions (the chat's are the chat screen's) -----------------------------------------------

    def _chat(self) -> ChatScreen:
        assert self.chat_screen is not None
        return self.chat_screen

    async def action_new_conversation(self) -> None:
        await self._chat().conversations.new()

    def action_toggle_sidebar(self) -> None:
        self._chat().toggle_sidebar()

    def action_toggle_thinking(self) -> None:
        self._chat().toggle_thinking()

    def action_expand_thinking(self) -> None:
        self._chat().expand_thinking()

    def action_copy_answer(self) -> None:
        self._chat().copy_answer()

    def action_copy_code(self) -> None:
        self._chat().copy_code()

    def action_cancel(self) -> None:
        self._chat().cancel()

    def action_focus_input(self) -> None:
        self._chat().prompt.focus()

    def action_cycle_mode(self) -> None:
        """Shift+Tab in the prompt: the next agent mode (glmchat.tools.modes); elsewhere it moves the focus back."""
        chat = self.chat_screen
        if chat is None or self.screen is not chat or not chat.prompt.has_focus:
            raise SkipAction()
        chat.cycle_mode()

    def action_scroll_chat(self, where: str) -> None:
        """PageUp/PageDown, Ctrl+Home/End from the prompt (or the log): scroll the chat; elsewhere (a
        dialog, the sidebar) the key does what it does there."""
        chat = self.chat_screen
        focused = self.focused
        if chat is None or self.screen is not chat or not (focused is None or chat.prompt.has_focus or chat.chat in focused.ancestors_with_self):
            raise SkipAction()
        log = chat.chat
        {"page_up": log.scroll_page_up, "page_down": log.scroll_page_down, "home": log.scroll_home, "end": log.scroll_end}[where](animate=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            rows = self.chat_screen.custom_commands.rows if self.chat_screen is not None else []
            self.push_screen(HelpScreen(self.settings.keys, rows))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Theme" entry lists every theme; glmchat offers its own "Theme: …" entries
        yield from (c for c in super().get_system_commands(screen) if c.title != "Theme")
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
                yield SystemCommand(f"/{c.name}", c.description, lambda n=c.name: self.run_worker(self._chat().run_slash("/" + n)))
        for name in self.glm_theme_names():
            yield SystemCommand(f"Theme: {name}", "Switch to this theme (remembered)", lambda n=name: self.run_worker(self._chat().run_slash(f"/theme {n}")))

    # ---- quitting --------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Ctrl+Q / /quit: stop whatever runs in the background, then leave."""
        self.stop_background()
        self.exit(0)

    def stop_background(self) -> None:
        """Cancel a running answer, a title, a /run command and a download (each keeps what it has)."""
        if self.chat_screen is not None:
            self.chat_screen.stop_background()

    def shutdown(self, timeout: float = 10.0) -> None:
        """After the app has exited: let the turn and title threads finish, snapshot the conversation
        for instant resume (`ChatSession.close()`), then close the engine. Never raises."""
        chat = self.chat_screen
        if chat is None:
            return
        chat.stop_background()
        chat.wait_background(timeout)
        for part in (chat.session, chat.engine):  # the session snapshots its KV state, then the engine closes
            if part is not None:
                try:
                    part.close()
                except Exception:
                    pass


def run_app(settings: Any, *, engine_factory: EngineFactory, history: Any, **options: Any) -> int:
    """Run the TUI until the user quits; returns the exit code. Closes `history` afterwards."""
    from glmchat.mcp.manager import start_servers, stop_servers  # [mcp.servers]: connect in the background

    app = GlmchatApp(settings, engine_factory=engine_factory, history=history, **options)
    try:
        start_servers(settings)
        code = app.run()
    finally:
        app.shutdown()
        stop_servers()  # the stdio servers end with glmchat
        if history is not None:
            try:
                history.close()
            except Exception:
                pass
    return code or 0
