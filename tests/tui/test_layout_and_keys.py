"""The chat screen's parts and its keys: the sidebar toggle, remapped bindings, F1 help, the command palette,
quitting, and the welcome an empty chat shows."""

from __future__ import annotations

from glmchat.settings import load_settings
from glmchat.tui import commands
from glmchat.tui.screens.help import HelpScreen
from tests.tui_support import SIZE, make_app, notices, send, wait_ready


async def test_layout_has_every_part_and_ctrl_b_toggles_sidebar(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        for sel in ("#sidebar", "#chat", "#prompt", "#status", "Footer"):
            assert app.query(sel), sel
        assert app.focused is app.chat_screen.prompt
        assert app.chat_screen.sidebar.display and not app.chat_screen.sidebar.has_class("-hidden")
        await pilot.press("ctrl+b")
        assert app.chat_screen.sidebar.has_class("-hidden")
        assert app.chat_screen.sidebar.region.width == 0
        await pilot.press("ctrl+b")
        assert not app.chat_screen.sidebar.has_class("-hidden")


async def test_welcome_on_an_empty_chat_names_the_model_and_the_help(tmp_path):
    from glmchat.tui.widgets.welcome import Welcome

    app = make_app(tmp_path, ["</think>hi"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await pilot.pause()
        text = str(app.chat_screen.chat.query_one(Welcome).render())
        assert "scripted on CPU" in text and "F1" in text and "/help" in text and "Ctrl+P" in text
        await send(pilot, app, "hello")
        assert not app.chat_screen.chat.query(Welcome)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.chat_screen.chat.query(Welcome)


async def test_ctrl_n_starts_new_conversation_and_remapped_key_works(tmp_path):
    settings = load_settings()
    settings.keys["new"] = "f5"
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "one")
        first = app.chat_screen.conversation_id
        assert first is not None
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.chat_screen.conversation_id == first  # ctrl+n was remapped away
        await pilot.press("f5")
        await pilot.pause()
        assert app.chat_screen.conversation_id is None and [type(w).__name__ for w in app.chat_screen.chat.children] == ["Welcome"]
        await send(pilot, app, "two")
        assert app.chat_screen.conversation_id not in (None, first)


async def test_unknown_binding_id_is_reported(tmp_path):
    settings = load_settings()
    settings.keys["nope"] = "f9"
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        assert any("nope" in n for n in notices(app))


async def test_f1_help_lists_keys_and_commands(tmp_path):
    settings = load_settings()
    settings.keys["sidebar"] = "f6"
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        from glmchat.tui.screens.help import help_table

        kt, ct = help_table(settings.keys)
        keys_col = list(kt.columns[0].cells)
        assert "f6" in keys_col and "ctrl+n" in keys_col
        assert len(list(ct.columns[0].cells)) == len(commands.COMMANDS)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_offers_actions_and_slash_commands(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("New conversation", "Toggle sidebar", "Copy last answer", "Copy last code block", "Help", "/retry", "/compact", "Theme: glm-light"):
            assert t in titles, t


async def test_ctrl_q_quits(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code in (0, None)
    assert not app.is_running
