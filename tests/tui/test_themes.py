"""Themes: the shipped ones, /theme (remembered in config.toml), a user's theme file and a broken one."""

from __future__ import annotations

from glmchat.settings import config_dir, load_settings
from tests.tui_support import SIZE, errors, make_app, notices, wait_ready


async def test_themes_registered_switch_and_remembered(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        for name in ("glm-dark", "glm-light", "glm-high-contrast", "glm-nord"):
            assert name in app.available_themes
        assert app.theme == "glm-dark"
        app.chat_screen.prompt.load_text("/theme glm-light")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "glm-light"
        assert 'theme = "glm-light"' in (config_dir() / "config.toml").read_text()
        app.chat_screen.prompt.load_text("/theme glm-lite")
        await pilot.press("enter")
        await pilot.pause()
        assert "glm-light" in errors(app)[-1].hint
    assert load_settings().ui.theme == "glm-light"


async def test_user_theme_from_config_dir_and_broken_one_reported(tmp_path):
    d = config_dir() / "themes"
    d.mkdir(parents=True)
    (d / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\ndark = true\n')
    (d / "bad.toml").write_text('name = "bad"\ncolour = "red"\n')
    settings = load_settings()
    settings.ui.theme = "mine"
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        assert app.theme == "mine"
        assert any("bad.toml" in n for n in notices(app))


async def test_palette_lists_glmchat_themes_but_not_textuals_generic_theme_command(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme: glm-dark" in titles and "Theme: glm-light" in titles
        assert not {"Theme", "Change theme"} & set(titles), titles
        assert "Quit" in titles and "Keys" in titles  # Textual's other commands stay
