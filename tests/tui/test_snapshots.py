"""SVG snapshots of the TUI (pytest-textual-snapshot). Update with: pytest tests/tui/test_snapshots.py --snapshot-update

Deterministic: a fixed clock and timer, constant usage figures, a fixed terminal size.
"""

from __future__ import annotations

import pytest

from glmchat.settings import load_settings
from glmchat.tui.widgets.thinking_pane import ThinkingPane
from glmchat.tui.widgets.tool_block import ToolBlock
from tests.tui_support import FIXED_NOW, FixedUsageEngine, make_app, send, wait_ready

SIZE = (100, 30)
SCRIPT = (
    "The user asks for a Python function that adds two numbers. Keep it short.</think>"
    "Here you go:\n\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n\n"
    "- works for **ints**\n- and floats too\n"
)


def app_for(tmp_path, theme: str = "glm-dark"):
    settings = load_settings()
    settings.ui.theme = theme
    engine = FixedUsageEngine(scripts=[SCRIPT])
    app = make_app(tmp_path, engine=engine, settings=settings, clock=lambda: FIXED_NOW, timer=lambda: 100.0)
    app.call_after_refresh(lambda: setattr(app.chat_screen.prompt, "cursor_blink", False))  # a blinking cursor is not deterministic
    return app


async def _conversation(pilot) -> None:
    app = pilot.app
    await wait_ready(pilot, app)
    await send(pilot, app, "Write add() in Python")
    app.chat_screen.prompt.focus()
    await pilot.pause()


def test_first_run(snap_compare, tmp_path):
    app = app_for(tmp_path)

    async def ready(pilot):
        await wait_ready(pilot, pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_conversation_collapsed_thinking(snap_compare, tmp_path):
    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=_conversation)


def test_conversation_expanded_thinking(snap_compare, tmp_path):
    async def expand(pilot):
        await _conversation(pilot)
        pilot.app.chat_screen.chat.query_one(ThinkingPane).set_expanded(True)
        await pilot.pause()

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=expand)


def test_tool_call_block(snap_compare, tmp_path):
    async def tool(pilot):
        await _conversation(pilot)
        block = ToolBlock("read_file", {"path": "README.md", "start": 1, "end": 3})
        await pilot.app.chat_screen.chat.add(block)
        block.set_result("# glmchat\n\nChat with GLM-4.7-Flash in your terminal.", True, "auto")
        await pilot.pause()

    assert snap_compare(app_for(tmp_path), terminal_size=SIZE, run_before=tool)


def test_help_screen(snap_compare, tmp_path):
    async def help_(pilot):
        await wait_ready(pilot, pilot.app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for(tmp_path), terminal_size=(100, 50), run_before=help_)


@pytest.mark.parametrize("theme", ["glm-dark", "glm-light", "glm-high-contrast", "glm-nord"])
def test_theme(snap_compare, tmp_path, theme):
    assert snap_compare(app_for(tmp_path, theme), terminal_size=SIZE, run_before=_conversation)
