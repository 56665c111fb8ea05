"""The chat's slash commands: /help /new /clear /quit /retry /edit /profile /think /system /title
/export /copy /theme /compact /model. Each is `async def name(screen, raw, args)`; the table in
glmchat.tui.commands says which need a loaded model or an idle session (checked before the call).
"""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from glmchat.compaction import compaction_cut
from glmchat.errors import GlmchatError, UsageError
from glmchat.tui.screens.pick import PickScreen

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


async def help_(screen: ChatScreen, raw: str, args: list[str]) -> None:
    screen.app.action_help()


async def new(screen: ChatScreen, raw: str, args: list[str]) -> None:
    await screen.conversations.new()


async def quit_(screen: ChatScreen, raw: str, args: list[str]) -> None:
    await screen.app.action_quit()


async def retry(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.session
    if session.last_user_text() is None:
        raise GlmchatError("There is nothing to retry yet.", "Type a message first.")
    await screen.chat.remove_after_last_user()
    screen.start_turn(lambda cancel: session.retry(cancel))


async def edit(screen: ChatScreen, raw: str, args: list[str]) -> None:
    last = screen.session.last_user_text()
    if last is None:
        raise GlmchatError("There is no message to edit yet.", "Type a message first.")
    screen.editing = True
    screen.prompt.load_text(last)
    screen.prompt.move_cursor(screen.prompt.document.end)
    await screen.show_notice("Editing your last message: Enter resends it and replaces the answer.")


async def profile(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not args:
        current = screen.session.profile if screen.session else screen.settings.chat.profile
        await screen.show_notice(f"Profile: {current}. Known: {', '.join(sorted(screen.settings.profiles))}.")
        return
    screen.need_session().set_profile(args[0])
    screen.update_session_status()
    await screen.show_notice(f"Profile set to {args[0]}.")


async def think(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not args:
        current = screen.session.thinking if screen.session else screen.settings.chat.thinking
        await screen.show_notice(f"Thinking: {current} (on | off | preserve).")
        return
    screen.need_session().set_thinking(args[0])
    screen.update_session_status()
    screen.refresh_context()
    await screen.show_notice(f"Thinking mode set to {args[0]}.")


async def system(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.session
    if not raw:
        await screen.show_notice(
            f"System prompt: {session.system_prompt!r}" if session.system_prompt else "No system prompt. /system TEXT sets one, /system off clears it."
        )
        return
    text = None if raw.strip().lower() in ("off", "none", "clear") else raw
    session.set_system_prompt(text)
    screen.refresh_context()
    await screen.show_notice("System prompt cleared." if text is None else "System prompt set.")


async def title(screen: ChatScreen, raw: str, args: list[str]) -> None:
    if not raw:
        raise UsageError("/title needs the new title.", "Example: /title Fixing the parser")
    await screen.conversations.set_title(raw)


async def export(screen: ChatScreen, raw: str, args: list[str]) -> None:
    fmt = "md"
    rest = list(args)
    if rest and rest[0].lower() in ("md", "markdown", "json"):
        fmt = "json" if rest.pop(0).lower() == "json" else "md"
    cid = screen.conversation_id
    if screen.history is None or cid is None:
        raise GlmchatError("There is nothing to export yet.", "Send a message first.")
    path = Path(rest[0]).expanduser() if rest else None
    written = await asyncio.to_thread(screen.history.export, cid, fmt, path)
    await screen.show_notice(f"Exported to {written}.")


async def copy(screen: ChatScreen, raw: str, args: list[str]) -> None:
    answers = screen.answers()
    n = 1
    if args:
        try:
            n = int(args[0])
        except ValueError:
            raise UsageError(f"/copy takes a number, not {args[0]!r}.", "/copy 2 copies the answer before the last.") from None
    if not answers:
        await screen.show_notice("Nothing to copy yet.")
        return
    if n < 1 or n > len(answers):
        raise GlmchatError(f"There is no answer number {n} (this conversation has {len(answers)}).", "/copy 1 is the last answer.")
    screen.app.copy_text(answers[-n], "the answer" if n == 1 else f"answer -{n}")


async def theme(screen: ChatScreen, raw: str, args: list[str]) -> None:
    app = screen.app
    names = app.glm_theme_names()
    if not args:
        await screen.show_notice(f"Theme: {app.theme}. Available: {', '.join(names)}.")
        return
    name = args[0]
    if name not in app.available_themes:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        raise UsageError(f"Unknown theme {name!r}.", f"Available: {', '.join(close or names)}.")
    app.set_theme(name)
    await screen.show_notice(f"Theme set to {name} (remembered).")


async def compact(screen: ChatScreen, raw: str, args: list[str]) -> None:
    session = screen.session
    if compaction_cut(session.messages, 1) is None:  # what ChatSession.compact checks, without a turn
        await screen.show_notice("Nothing to compact yet.")
        return
    await screen.show_notice("Compacting: asking the model for a summary of the older turns…")
    screen.start_turn(lambda cancel: session.compact(cancel))


async def model(screen: ChatScreen, raw: str, args: list[str]) -> None:
    loader = screen.loader
    loader.require_model_factory()  # before the picker: say at once when switching is not available
    from glmchat.tui.model_choices import model_choices

    current = screen.engine.info.path if screen.engine is not None else None
    choices = await asyncio.to_thread(model_choices, screen.settings.model.path, current)
    if args:
        wanted = args[0]
        match = next((c.path for c in choices if c.source == "downloaded" and c.label.split()[0].lower() == wanted.lower()), None)
        await loader.switch_model(match or wanted)
        return

    async def chosen(path: str | None) -> None:
        if path:
            await loader.switch_model(path)

    screen.app.push_screen(
        PickScreen(
            "Pick a model (Enter loads it, Esc cancels):",
            [(c.path, c.label) for c in choices],
            "No downloaded quants or GGUF files opened before. `glmchat download` fetches one; /model PATH opens a file.",
        ),
        chosen,
    )
