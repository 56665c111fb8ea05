"""At 80×24 every dialog shows its whole text: it wraps at the dialog's width, nothing is cut off."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from glmchat.tui import commands
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.confirm import ConfirmScreen
from glmchat.tui.screens.help import HelpScreen
from glmchat.tui.screens.pick import PickScreen
from glmchat.tui.screens.text_prompt import TextPromptScreen
from glmchat.tui.widgets.download import (
    DownloadOffer,
    DownloadPanel,
    DownloadSnapshot,
    FileState,
    human_bytes,
)
from tests.tui_support import make_app, wait_for, wait_ready

SMALL = (80, 24)
LONG_TITLE = "What Python version does this project need, and why does the README say otherwise?"


def words(text: str) -> str:
    return " ".join(text.split())


def shown(widget: Widget) -> str:
    """What `widget` puts on the screen, its wrapped lines joined (words only)."""
    strips = widget.render_lines(Region(0, 0, *widget.outer_size))
    return words(" ".join(strip.text for strip in strips))


def assert_whole(widget: Widget, text: str, *, scrolls: bool = False) -> None:
    """`text` is on screen in `widget`, and no part of `widget` is clipped by its dialog (a widget
    in a scrolling view may be clipped at the top and bottom, never at the sides)."""
    assert widget.size.width > 0 and widget.size.height > 0, widget
    geometry = widget.screen.find_widget(widget)
    assert geometry.visible_region.width == geometry.region.width, (widget, geometry)
    if not scrolls:
        assert geometry.visible_region == geometry.region, (widget, geometry)
    assert "…" not in shown(widget), shown(widget)
    assert words(text) in shown(widget), (shown(widget), text)


async def _show(pilot, app, screen) -> None:
    app.push_screen(screen)
    await wait_for(pilot, lambda: app.screen is screen)
    await pilot.pause()


async def test_the_delete_question_wraps_inside_the_dialog(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        question = f"Delete “{LONG_TITLE}”? This cannot be undone."
        await _show(pilot, app, ConfirmScreen(question, yes="Delete"))
        assert_whole(app.screen.query_one(Label), question)
        for button in app.screen.query(Button):
            assert_whole(button, str(button.label))


async def test_the_model_picker_shows_its_whole_hint(tmp_path):
    app = make_app(tmp_path, model_factory=lambda path, progress: None)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/model")
        app.chat_screen.prompt.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause()
        screen = app.screen
        title, hint = list(screen.query(Label))  # nothing downloaded or opened before in a fresh home
        assert_whole(title, screen.title_text)
        assert_whole(hint, screen.empty)
        assert "glmchat download" in screen.empty


async def test_the_model_picker_shows_a_recent_file_and_its_folder_whole(tmp_path):
    from textual.widgets import OptionList

    from glmchat.tui.model_choices import remember_model

    folder = tmp_path / "a rather long folder name for models" / "downloaded from somewhere" / "smollm2"
    folder.mkdir(parents=True)
    gguf = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.write_bytes(b"GGUF" + bytes(2_000_000))
    remember_model(gguf)
    app = make_app(tmp_path, model_factory=lambda path, progress: None)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/model")
        app.chat_screen.prompt.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        assert_whole(options, f"{gguf.name} 1.9 MiB")  # the name and size on one line, unbroken
        assert "a rather long folder name" in shown(options)


async def test_a_long_question_for_text_wraps(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        question = f"New title for “{LONG_TITLE}” (Enter keeps it, Esc cancels):"
        await _show(pilot, app, TextPromptScreen(question, "x"))
        assert_whole(app.screen.query_one(Label), question)


async def test_the_approval_dialog_shows_its_title_hint_and_buttons(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        screen = ApprovalScreen("run_shell", {"command": "ls -la"}, "runs a command in the workspace, may change files", "")
        await _show(pilot, app, screen)
        assert_whole(screen.query_one(".approval-title", Label), "The model wants to run run_shell (runs a command in the workspace, may change files)")
        message = screen.query_one("#deny-message", Input)
        assert len(message.placeholder) <= message.content_size.width - 1, message.placeholder  # one line, never wraps
        for button in screen.query(Button):
            assert_whole(button, str(button.label))


async def test_help_lists_every_command_whole(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        await _show(pilot, app, HelpScreen())
        statics = list(app.screen.query(Static))
        for static in statics:
            assert_whole(static, "", scrolls=True)
        tables = " ".join(shown(s) for s in statics)
        for c in commands.COMMANDS:
            assert words(f"/{c.name} {c.args}") in tables and words(c.description) in tables, c.name


async def test_the_download_panel_shows_names_and_byte_counts_whole(tmp_path):
    files = [
        FileState("UD-Q4_K_XL/GLM-4.7-Flash-UD-Q4_K_XL-00001-of-00002.gguf", 9_876_543_210),
        FileState("UD-Q4_K_XL/GLM-4.7-Flash-UD-Q4_K_XL-00002-of-00002.gguf", 7_654_321_098),
    ]
    total = sum(f.size for f in files)
    app = make_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_ready(pilot, app)
        panel = DownloadPanel(DownloadOffer("UD-Q4_K_XL", files, total, "fits in RAM"), id="download")
        await app.chat_screen.query_one("#main").mount(panel, before=app.chat_screen.chat)
        done = [FileState(files[0].path, files[0].size, 1_234_567_890), FileState(files[1].path, files[1].size, 0)]
        panel.show_progress(DownloadSnapshot(files=done, done=1_234_567_890, total=total, speed=45_600_000, eta=3700))
        await pilot.pause()
        for f in files:
            assert_whole(_name_of(panel, f.path), f.path.rsplit("/", 1)[-1])
        assert_whole(panel.query_one("#dl-text-0", Static), f"{human_bytes(1_234_567_890)} / {human_bytes(files[0].size)}")
        assert "ETA" in shown(panel.query_one("#dl-text-0", Static))
        assert_whole(panel.query_one("#dl-text-total", Static), f"{human_bytes(1_234_567_890)} / {human_bytes(total)}")
        assert "ETA 1 h 01 min" in shown(panel.query_one("#dl-text-total", Static))


def _name_of(panel: DownloadPanel, path: str) -> Static:
    name = path.rsplit("/", 1)[-1]
    return next(s for s in panel.query(".download-name").results(Static) if name in str(s.render()))
