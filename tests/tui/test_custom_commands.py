"""Your own commands in the chat: /NAME expands, its front matter applies, the popup and F1 list it,
a clash with a built-in is reported once."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from glmchat.engine.scripted import ScriptedEngine
from glmchat.settings import config_dir, load_settings
from glmchat.tools import Workspace
from glmchat.tui.screens.help import HelpScreen, help_table
from glmchat.tui.widgets.slash_popup import SlashPopup
from tests.tui_support import make_app, notices, send, wait_for, wait_ready

SIZE = (110, 36)
REVIEW = "---\ndescription: Review one file\nprofile: precise\ntools: true\n---\nReview $1 closely. Everything: $ARGUMENTS\n"


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / "ws"
    commands = root / ".glmchat" / "commands"
    commands.mkdir(parents=True)
    (commands / "review.md").write_text(REVIEW)
    (commands / "help.md").write_text("Not the built-in help.\n")
    (root / "notes.txt").write_text("remember the milk\n")
    return Workspace(root)


def precise_settings():
    settings = load_settings()
    settings.profiles["precise"] = replace(settings.profile("general"), temperature=0.125)
    return settings


def last_user_content(engine: ScriptedEngine) -> str:
    return [m for m in engine.requests[-1].messages if m["role"] == "user"][-1]["content"]


async def loaded(pilot, app) -> None:
    await wait_ready(pilot, app)
    await wait_for(pilot, lambda: app.chat_screen.custom_commands.rows)


async def test_a_project_command_expands_and_applies_its_front_matter(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>Looks fine."])
    app = make_app(tmp_path, engine=engine, workspace=ws, settings=precise_settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, '/review "src/my app.py" quickly')
        assert last_user_content(engine) == 'Review src/my app.py closely. Everything: "src/my app.py" quickly'
        request = engine.requests[-1]
        assert request.tools and request.sampling.temperature == 0.125
        session = app.chat_screen.session
        assert session.tools_enabled and session.profile == "precise"
        assert any("Tools on (/review" in n for n in notices(app))


async def test_mentions_in_the_arguments_attach_the_file(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, workspace=ws, settings=precise_settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "/review @notes.txt")
        content = last_user_content(engine)
        assert content.startswith("Review @notes.txt closely.") and "remember the milk" in content


async def test_a_users_command_is_listed_in_the_popup_and_in_f1(tmp_path, ws):
    folder = config_dir() / "commands"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "explain.md").write_text("---\ndescription: Explain the code\n---\nExplain $ARGUMENTS.\n")
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert sorted(r.name for r in app.chat_screen.custom_commands.rows) == ["explain", "review"]
        app.chat_screen.prompt.focus()
        await pilot.press("/", "e", "x")
        await pilot.pause()
        popup = app.chat_screen.query_one(SlashPopup)
        shown = [str(popup.get_option_at_index(i).prompt) for i in range(popup.option_count)]
        assert any(s.startswith("/explain") and "Explain the code" in s for s in shown)
        await pilot.press("escape")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert [c.name for c in app.screen.extra] == ["explain", "review"]
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(help_table({}, app.screen.extra)[1])
        text = console.export_text()
        assert "/explain [ARGS]" in text and "Review one file" in text


async def test_a_clash_with_a_built_in_is_reported_once_and_the_built_in_wins(tmp_path, ws):
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await wait_for(pilot, lambda: any("/help is a built-in command" in n for n in notices(app)))
        app.chat_screen.prompt.load_text("/help")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await app.chat_screen.custom_commands.known("/newone")  # a reload: the problem is not repeated
        await pilot.pause()
        assert sum("/help is a built-in command" in n for n in notices(app)) == 1


async def test_a_command_file_written_after_the_start_runs_at_once(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        (ws.root / ".glmchat" / "commands" / "later.md").write_text("Later: $1")
        await send(pilot, app, "/later now")
        assert last_user_content(engine) == "Later: now"


async def test_a_hostile_description_is_shown_inert_in_the_popup(tmp_path, ws):
    (ws.root / ".glmchat" / "commands" / "evil.md").write_text("---\ndescription: \x1b]52;c;aGk=\x07[bold]x[/bold]\n---\nHi.\n")
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(r.name == "evil" for r in app.chat_screen.custom_commands.rows))
        popup = app.chat_screen.query_one(SlashPopup)
        popup.show_for("/ev")
        [shown] = [popup.get_option_at_index(i).prompt for i in range(popup.option_count)]
        assert "\x1b" not in str(shown) and "\x07" not in str(shown) and "[bold]x[/bold]" in str(shown)
