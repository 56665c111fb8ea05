"""Pilot tests for the TUI (issue 6) on a scripted engine and a temporary store."""

from __future__ import annotations

import threading
import time

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.errors import ModelError
from glmchat.settings import config_dir, load_settings
from glmchat.tui import commands
from glmchat.tui.markdown_segments import code_blocks
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.confirm import ConfirmScreen
from glmchat.tui.screens.help import HelpScreen
from glmchat.tui.screens.text_prompt import TextPromptScreen
from glmchat.tui.widgets.answer_markdown import CopyableFence
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.conversation_item import ConversationItem, relative_time
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.notice_block import NoticeBlock
from glmchat.tui.widgets.status import context_bar
from glmchat.tui.widgets.thinking_pane import ThinkingPane
from glmchat.tui.widgets.tool_block import ToolBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import make_app, send, wait_for, wait_ready

SIZE = (110, 36)

MIXED = (
    "The user wants code. I will write a function.</think>"
    "Here is a function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


def errors(app) -> list[ErrorBlock]:
    return list(app.chat_screen.chat.query(ErrorBlock))


def notices(app) -> list[str]:
    return [n.text for n in app.chat_screen.chat.query(NoticeBlock)]


# ---- layout and start-up -------------------------------------------------------------------------


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


async def test_ui_takes_typing_within_a_second_and_holds_first_message_until_ready(tmp_path):
    gate = threading.Event()
    engine = ScriptedEngine(scripts=["</think>Ready answer."])

    def slow_factory(progress):
        progress(0.5, "Loading tensors… 50%")
        gate.wait(10)
        return engine

    t0 = time.monotonic()
    app = make_app(tmp_path, factory=slow_factory)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hello")
        assert time.monotonic() - t0 < 1.0 + 1.0  # app start + typing (generous for a loaded CI box)
        assert app.chat_screen.prompt.text == "hello"
        assert app.chat_screen.loading and app.chat_screen.session is None
        await wait_for(pilot, lambda: "50%" in str(app.query_one("#loading-text").render()))
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.held == ["hello"]
        assert any("still loading" in n for n in notices(app))
        assert engine.calls == 0
        gate.set()
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert engine.calls == 1
        assert app.chat_screen.answers() == ["Ready answer."]
        assert app.query_one("#loading").has_class("-hidden")


async def test_load_failure_shows_message_and_hint_not_traceback(tmp_path):
    def failing(progress):
        raise ModelError("Model file /x.gguf not found.", "Pass --model PATH or download one with `glmchat hub pull`.")

    app = make_app(tmp_path, factory=failing)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None)
        await pilot.pause()
        errs = errors(app)
        assert errs and errs[0].message == "Model file /x.gguf not found."
        assert "glmchat hub pull" in errs[0].hint
        assert "model not loaded" in str(app.chat_screen.status.status_text())
        app.chat_screen.prompt.load_text("hi")
        await pilot.press("enter")
        await pilot.pause()
        assert "not sent" in errors(app)[-1].message


async def test_unexpected_load_exception_becomes_a_message(tmp_path):
    def broken(progress):
        raise RuntimeError("boom")

    app = make_app(tmp_path, factory=broken)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat_screen.load_error is not None)
        await pilot.pause()
        assert "boom" in errors(app)[0].message and errors(app)[0].hint


# ---- streaming: thinking and answer panes --------------------------------------------------------


async def test_thinking_streams_then_collapses_to_summary_and_answer_is_markdown(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "write add()")
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        pane = msg.thinking
        assert pane is not None and pane.done and not pane.expanded
        assert pane.text.startswith("The user wants code")
        assert pane.tokens > 0
        header = str(pane.query_one(".thinking-header").render())
        assert header.startswith("▸ Thought for ") and f"{pane.tokens:,} tokens" in header
        assert not pane.query_one(".thinking-body").display
        assert msg.answer.startswith("Here is a function:")
        assert msg.markdown.source == msg.answer
        fences = list(msg.query(CopyableFence))
        assert len(fences) == 1 and fences[0].code == "def add(a, b):\n    return a + b"
        assert msg.query("MarkdownTable") and msg.query("MarkdownBulletList")


async def test_thinking_is_visible_while_streaming(tmp_path):
    engine = ScriptedEngine(scripts=["a b c d e f g h i j k l m n o p q r s t</think>done"], chunk_chars=2, delay=0.02)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("q")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.chat_screen.chat.query(ThinkingPane)) and len(app.chat_screen.chat.query_one(ThinkingPane).text) > 4)
        pane = app.chat_screen.chat.query_one(ThinkingPane)
        assert pane.expanded and not pane.done
        assert str(pane.query_one(".thinking-header").render()) == "Thinking…"
        assert pane.text.strip() in str(pane.query_one(".thinking-body").render())
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert pane.done and not pane.expanded


async def test_unclosed_code_fence_renders_correctly_at_the_end(tmp_path):
    # the stream ends inside a fence: the final full re-render must still show one code block
    text = "</think>Code:\n\n```python\nx = 1\n\ny = 2\n"
    app = make_app(tmp_path, [text])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "code")
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        fences = list(msg.query(CopyableFence))
        assert [f.code for f in fences] == ["x = 1\n\ny = 2"]
        assert msg.markdown.source == "Code:\n\n```python\nx = 1\n\ny = 2\n"


async def test_thinking_expands_by_key_and_by_click_and_ctrl_t_hides_all(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "x")
        pane = app.chat_screen.chat.query_one(ThinkingPane)
        assert not pane.expanded
        pane.focus()
        await pilot.press("enter")
        assert pane.expanded and pane.query_one(".thinking-body").display
        assert str(pane.query_one(".thinking-header").render()).startswith("▾ Thought for")
        await pilot.press("enter")
        assert not pane.expanded
        await pilot.click(pane.query_one(".thinking-header"))
        assert pane.expanded
        await pilot.click(pane.query_one(".thinking-header"))
        assert not pane.expanded
        app.chat_screen.prompt.focus()
        await pilot.press("ctrl+o")
        assert pane.expanded
        await pilot.press("ctrl+t")
        assert app.chat_screen.has_class("-hide-thinking") and pane.region.height == 0
        await pilot.press("ctrl+t")
        assert not app.chat_screen.has_class("-hide-thinking")


async def test_answer_without_thinking_has_no_thinking_pane(tmp_path):
    app = make_app(tmp_path, ["</think>Just the answer."])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "x")
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        assert msg.thinking is None and msg.answer == "Just the answer."


async def test_engine_error_keeps_partial_answer_and_shows_error_block(tmp_path):
    engine = ScriptedEngine(scripts=["</think>Partial answer that goes on"], fail_after=5)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "x")
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        assert msg.answer and "Partial answer".startswith(msg.answer[:7])
        assert msg.status == "error"
        err = errors(app)[-1]
        assert "failed on purpose" in err.message and err.hint
        assert not app.chat_screen.generating


async def test_auto_scroll_follows_until_user_scrolls_up(tmp_path):
    long = "</think>" + "\n\n".join(f"Paragraph {i} with some words." for i in range(80))
    app = make_app(tmp_path, [long, long])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "long")
        chat = app.chat_screen.chat
        await wait_for(pilot, lambda: chat.max_scroll_y > 0 and chat.scroll_y >= chat.max_scroll_y - 1, 5)
        chat.scroll_to(y=0, animate=False)
        await pilot.pause(0.05)
        assert chat.follow is False
        chat.scroll_end(animate=False)
        await pilot.pause(0.05)
        assert chat.follow is True


# ---- input ---------------------------------------------------------------------------------------


async def test_enter_sends_shift_enter_and_ctrl_j_insert_newlines(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await pilot.press("a", "shift+enter", "b", "ctrl+j", "c")
        assert app.chat_screen.prompt.text == "a\nb\nc"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        assert app.chat_screen.prompt.text == ""
        assert app.chat_screen.chat.query_one(UserMessage).text == "a\nb\nc"
        assert app.chat_screen.session.messages[0]["content"] == "a\nb\nc"


async def test_up_down_recall_history_only_when_empty(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "first")
        await send(pilot, app, "second")
        await pilot.press("up")
        assert app.chat_screen.prompt.text == "second"
        await pilot.press("up")
        assert app.chat_screen.prompt.text == "first"
        await pilot.press("down")
        assert app.chat_screen.prompt.text == "second"
        await pilot.press("down")
        assert app.chat_screen.prompt.text == ""
        await pilot.press("x", "up")
        assert app.chat_screen.prompt.text == "x"  # not empty: Up moves the cursor, no recall


async def test_escape_cancels_and_keeps_partial_answer_marked(tmp_path):
    engine = ScriptedEngine(scripts=["</think>" + "word " * 400], chunk_chars=3, delay=0.01)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("go")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.chat.query(AssistantMessage) and len(app.chat_screen.chat.query_one(AssistantMessage).answer) > 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        assert 10 < len(msg.answer) < len("word " * 400)
        assert msg.status == "cancelled"
        mark = msg.query_one(".message-mark")
        assert mark.display and "Stopped" in str(mark.render())
        stored = app.options.history.store.messages(app.chat_screen.conversation_id)
        assert stored[-1].status == "cancelled" and stored[-1].content.strip() == msg.answer.strip()


async def test_slash_popup_filters_and_tab_completes(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        popup = app.query_one("#slash-popup")
        await pilot.press("/")
        assert popup.display and popup.option_count == len(commands.COMMANDS)
        await pilot.press("t", "h")
        ids = [popup.get_option_at_index(i).id for i in range(popup.option_count)]
        assert ids == ["think", "theme"]
        assert "thinking mode" in str(popup.get_option_at_index(0).prompt)
        await pilot.press("down", "tab")
        assert app.chat_screen.prompt.text == "/theme "
        assert not popup.display
        await pilot.press("ctrl+a")
        app.chat_screen.prompt.load_text("/ne")
        await pilot.pause()
        assert popup.display
        await pilot.press("escape")
        assert not popup.display


async def test_unknown_command_suggests_closest(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/thnk on")
        await pilot.press("enter")
        await pilot.pause()
        err = errors(app)[-1]
        assert err.message == "Unknown command /thnk." and "/think" in err.hint


# ---- status bar ----------------------------------------------------------------------------------


async def test_status_bar_shows_model_profile_thinking_context_and_speed(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=(160, 36)) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hello")
        await wait_for(pilot, lambda: app.chat_screen.status.info.ctx_used > 0)
        line = str(app.chat_screen.status.status_text())
        for part in ("scripted", "CPU", "general", "think on", "ctx", "/16,384", "TTFT", "tok/s"):
            assert part in line, part
        assert not app.chat_screen.status.has_class("-ctx-warn")
        assert app.chat_screen.status.info.last_tps and app.chat_screen.status.info.last_tps > 0


async def test_context_warning_from_80_percent(tmp_path):
    engine = ScriptedEngine(scripts=["</think>" + "x" * 1900], n_ctx=600, chunk_chars=50)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "fill it")
        await wait_for(pilot, lambda: app.chat_screen.status.has_class("-ctx-warn"))
        assert "nearly full" in str(app.chat_screen.status.status_text())
        assert any("full" in n for n in notices(app))


async def test_context_overflow_notice_from_session_is_shown(tmp_path):
    engine = ScriptedEngine(scripts=["</think>" + "y" * 400], n_ctx=700, chunk_chars=40)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        for i in range(4):
            await send(pilot, app, f"turn {i} " + "z" * 150)
        assert any("left out" in n for n in notices(app)), notices(app)


def test_context_bar_and_relative_time():
    assert context_bar(0, 100) == "▱" * 10
    assert context_bar(85, 100) == "▰" * 8 + "▱" * 2  # 8.5 rounds to even
    assert context_bar(100, 100) == "▰" * 10
    now = 1_000_000.0
    assert relative_time(now - 5, now) == "just now"
    assert relative_time(now - 300, now) == "5 min ago"
    assert relative_time(now - 7200, now) == "2 h ago"
    assert relative_time(now - 90000, now) == "yesterday"
    assert relative_time(now - 5 * 86400, now) == "5 d ago"


def test_code_blocks_and_command_parsing():
    assert code_blocks("a\n```py\nx\n```\nb\n~~~\ny\n~~~\n") == ["x", "y"]
    assert code_blocks("```\nunclosed\n") == ["unclosed"]
    cmd, raw, args = commands.parse("/export json out file.json")
    assert cmd.name == "export" and args == ["json", "out", "file.json"]
    cmd, raw, args = commands.parse("/system You are  terse.")
    assert raw == "You are  terse."
    assert commands.is_command("/new") and not commands.is_command("/usr/bin is a path")
    assert commands.suggest("exprt") == ["export"]


# ---- keys ----------------------------------------------------------------------------------------


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


async def test_copy_last_answer_code_block_and_focused_message(tmp_path):
    app = make_app(tmp_path, [MIXED])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "code please")
        answer = app.chat_screen.answers()[-1]
        await pilot.press("ctrl+y")
        assert app.clipboard == answer
        await pilot.press("ctrl+k")
        assert app.clipboard == "def add(a, b):\n    return a + b"
        app.chat_screen.chat.query_one(UserMessage).focus()
        await pilot.press("c")
        assert app.clipboard == "code please"
        app.chat_screen.chat.query_one(CopyableFence).focus()
        app.copy_to_clipboard("")
        await pilot.press("c")
        assert app.clipboard == "def add(a, b):\n    return a + b"
        app.chat_screen.prompt.focus()
        app.chat_screen.prompt.load_text("/copy 1")
        app.copy_to_clipboard("")
        await pilot.press("enter")
        await pilot.pause()
        assert app.clipboard == answer


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


# ---- themes --------------------------------------------------------------------------------------


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


# ---- slash commands ------------------------------------------------------------------------------


async def test_new_retry_edit(tmp_path):
    app = make_app(tmp_path, ["</think>first answer", "</think>second answer", "</think>third answer"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "question")
        assert app.chat_screen.answers() == ["first answer"]
        await send(pilot, app, "/retry")
        assert app.chat_screen.answers() == ["second answer"]
        assert len(app.chat_screen.chat.query(UserMessage)) == 1
        app.chat_screen.prompt.load_text("/edit")
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.prompt.text == "question" and app.chat_screen.editing
        app.chat_screen.prompt.load_text("better question")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 3)
        assert [u.text for u in app.chat_screen.chat.query(UserMessage)] == ["better question"]
        assert app.chat_screen.answers() == ["third answer"]
        assert [m.content for m in app.options.history.store.messages(app.chat_screen.conversation_id) if m.role == "user"] == ["better question"]
        app.chat_screen.prompt.load_text("/new")
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat_screen.conversation_id is None and [type(w).__name__ for w in app.chat_screen.chat.children] == ["Welcome"]


async def test_profile_think_system_title_commands(tmp_path):
    engine = ScriptedEngine(scripts=["thought</think>answer"])
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(160, 36)) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hi")
        for cmd in ("/profile tool", "/think off", "/system Be terse.", "/title My chat"):
            app.chat_screen.prompt.load_text(cmd)
            await pilot.press("enter")
            await pilot.pause()
        assert not errors(app), [e.message for e in errors(app)]
        assert app.chat_screen.session.profile == "tool" and app.chat_screen.session.thinking == "off"
        line = str(app.chat_screen.status.status_text())
        assert "tool" in line and "think off" in line
        conv = app.options.history.store.get_conversation(app.chat_screen.conversation_id)
        assert conv.title == "My chat" and conv.system_prompt == "Be terse." and conv.thinking_mode == "off"
        await send(pilot, app, "again")
        req = engine.requests[-1]
        assert req.messages[0] == {"role": "system", "content": "Be terse."}
        assert req.enable_thinking is False and req.sampling.temperature == 0.7
        assert app.chat_screen.chat.query(AssistantMessage).last().thinking is None
        app.chat_screen.prompt.load_text("/profile nonesuch")
        await pilot.press("enter")
        await pilot.pause()
        assert "Unknown profile" in errors(app)[-1].message


async def test_export_markdown_and_json(tmp_path):
    app = make_app(tmp_path, ["</think>exported answer"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "export me")
        md, js = tmp_path / "c.md", tmp_path / "c.json"
        for cmd in (f"/export md {md}", f"/export json {js}"):
            app.chat_screen.prompt.load_text(cmd)
            await pilot.press("enter")
            await pilot.pause()
        assert "exported answer" in md.read_text()
        import json

        data = json.loads(js.read_text())
        assert "exported answer" in json.dumps(data)


async def test_compact_and_quit_and_model_without_factory(tmp_path):
    app = make_app(tmp_path, ["</think>a1", "</think>a2", "</think>Summary of things."])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "one")
        await send(pilot, app, "two")
        await send(pilot, app, "/compact")
        assert any("Compacted" in n for n in notices(app)), notices(app)
        assert app.chat_screen.session.messages[0]["content"].startswith("Summary of the earlier conversation")
        app.chat_screen.prompt.load_text("/model")
        await pilot.press("enter")
        await pilot.pause()
        assert "Switching models" in errors(app)[-1].message
        app.chat_screen.prompt.load_text("/quit")
        await pilot.press("enter")
        await pilot.pause()
    assert not app.is_running


async def test_model_switch_reloads_engine_in_background(tmp_path):
    second = ScriptedEngine(scripts=["</think>from the second model"])
    second.info.model = "second"
    loaded: list[str] = []

    def model_factory(path, progress):
        loaded.append(path)
        return second

    app = make_app(tmp_path, model_factory=model_factory)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("/model /models/other.gguf")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.engine is second)
        assert loaded == ["/models/other.gguf"]
        assert "second" in str(app.chat_screen.status.status_text())
        await send(pilot, app, "hi")
        assert app.chat_screen.answers() == ["from the second model"]


async def test_commands_needing_the_model_explain_while_loading(tmp_path):
    gate = threading.Event()
    app = make_app(tmp_path, factory=lambda p: (gate.wait(5), ScriptedEngine())[1])
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.load_text("/retry")
        await pilot.press("enter")
        await pilot.pause()
        assert "still loading" in errors(app)[-1].message
        gate.set()
        await wait_ready(pilot, app)


# ---- sidebar and conversations -------------------------------------------------------------------


async def test_sidebar_lists_filters_opens_renames_and_deletes(tmp_path):
    app = make_app(tmp_path, ["</think>answer A", "</think>answer B"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "apples")
        a = app.chat_screen.conversation_id
        await pilot.press("ctrl+n")
        await send(pilot, app, "bananas")
        b = app.chat_screen.conversation_id
        items = list(app.chat_screen.sidebar.query(ConversationItem))
        assert {i.conv.id for i in items} == {a, b}
        assert "apples" in [i.conv.title for i in items]
        # filter: typed letters are text (n / r / d are list keys only outside the box)
        app.chat_screen.sidebar.query_one("#sidebar-filter").focus()
        await pilot.pause()
        await pilot.press("b", "a", "n", "d")
        assert app.chat_screen.sidebar.query_one("#sidebar-filter").value == "band"
        assert not isinstance(app.screen, ConfirmScreen) and app.chat_screen.conversation_id == b
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = "ban"
        await pilot.pause()
        assert app.chat_screen.sidebar.visible_ids() == [b]
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = "app"
        await pilot.pause()
        assert app.chat_screen.sidebar.visible_ids() == [a]
        app.chat_screen.sidebar.query_one("#sidebar-filter").value = ""
        await pilot.pause()
        # open A with Enter on the list
        lv = app.chat_screen.sidebar.query_one("#conversation-list")
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(a)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat_screen.conversation_id == a)
        assert [u.text for u in app.chat_screen.chat.query(UserMessage)] == ["apples"]
        assert app.chat_screen.answers() == ["answer A"]
        assert app.chat_screen.session.conversation_id == a and len(app.chat_screen.session.messages) == 2
        # rename
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(a)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        app.screen.query_one("Input").value = "Fruit talk"
        await pilot.press("enter")
        await pilot.pause()
        assert app.options.history.store.get_conversation(a).title == "Fruit talk"
        # delete, first declining then confirming
        lv = app.chat_screen.sidebar.query_one("#conversation-list")
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(b)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert b in [c.id for c in app.options.history.store.list_conversations()]
        lv.focus()
        lv.index = app.chat_screen.sidebar.visible_ids().index(b)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await pilot.pause()
        assert [c.id for c in app.options.history.store.list_conversations()] == [a]
        assert app.chat_screen.sidebar.visible_ids() == [a]


async def test_continue_last_and_conversation_id_reopen(tmp_path):
    from glmchat.store import Store

    store = Store(tmp_path / "c.db")
    app = make_app(tmp_path, ["thinking hard</think>stored answer"], store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "remember me")
        cid = app.chat_screen.conversation_id
    store2 = Store(tmp_path / "c.db")
    app2 = make_app(tmp_path, ["</think>next"], store=store2, continue_last=True)
    async with app2.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app2)
        assert app2.chat_screen.conversation_id == cid
        assert [u.text for u in app2.chat_screen.chat.query(UserMessage)] == ["remember me"]
        msg = app2.chat_screen.chat.query_one(AssistantMessage)
        assert msg.answer == "stored answer" and msg.thinking and not msg.thinking.expanded
        await send(pilot, app2, "and more")
        assert len(store2.messages(cid)) == 4
    app3 = make_app(tmp_path, store=Store(tmp_path / "c.db"), conversation_id=cid)
    async with app3.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app3)
        assert len(app3.chat_screen.chat.query(UserMessage)) == 2
    app4 = make_app(tmp_path, store=Store(tmp_path / "c.db"), conversation_id=9999)
    async with app4.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app4)
        assert errors(app4), "opening a missing conversation must show an error"


# ---- approval (issue 7 UI) -----------------------------------------------------------------------


@pytest.mark.parametrize("key,decision", [("a", "allow_once"), ("s", "allow_session"), ("d", "deny")])
async def test_approver_blocks_until_the_user_decides(tmp_path, key, decision):
    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        result = {}
        call = ToolCall("write_file", {"path": "a.txt", "content": "hi"}, "")
        t = threading.Thread(target=lambda: result.setdefault("r", app.chat_screen.turns.approve(call, "write", "--- a.txt\n+++ a.txt\n+hi")))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert not result
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "write_file" in str(app.screen.query_one(".approval-title").render())
        assert "a.txt" in text and "+hi" in text
        await pilot.press(key)
        await pilot.pause()
        t.join(5)
        assert result["r"].decision == decision


async def test_deny_with_message(tmp_path):
    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        result = {}
        call = ToolCall("run_shell", {"command": "rm -rf /"}, "")
        t = threading.Thread(target=lambda: result.setdefault("r", app.chat_screen.turns.approve(call, "execute", "")))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("m")
        assert app.focused is app.screen.query_one("#deny-message")
        await pilot.press(*"no thanks", "enter")
        t.join(5)
        assert result["r"].decision == "deny" and result["r"].message == "no thanks"


async def test_tool_call_block_and_approval_in_a_real_turn(tmp_path):
    tools = pytest.importorskip("glmchat.tools")
    if not hasattr(tools, "ToolRegistry"):
        pytest.skip("glmchat.tools does not export its API yet")
    ws = tmp_path / "ws"
    ws.mkdir()
    script = (
        "I will write the file.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>note.txt</arg_value>"
        "<arg_key>content</arg_key><arg_value>hello</arg_value></tool_call>"
    )
    engine = ScriptedEngine(scripts=[script, "</think>Done: I wrote note.txt."])
    app = make_app(
        tmp_path, engine=engine, tools=tools.ToolRegistry.builtin(), tools_enabled=True, workspace=tools.Workspace(ws)
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("write a note")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1)
        block = app.chat_screen.chat.query_one(ToolBlock)
        assert block.tool_name == "write_file" and block.arguments["path"] == "note.txt"
        assert "allowed once" in str(block.query_one(".tool-output").render())
        assert (ws / "note.txt").read_text() == "hello"
        assert app.chat_screen.answers()[-1] == "Done: I wrote note.txt."


# ---- long answers: segmented Markdown -------------------------------------------------------------


def _long_answer(blocks: int = 14) -> str:
    parts = []
    for i in range(blocks):
        parts.append(f"## Part {i}\n\nSome *text* for part {i}, long enough to wrap around once or twice in the pane.\n")
        parts.append(f"- item {i}\n- another item\n  - nested\n")
        parts.append(f"```python\ndef f{i}(x):\n\n    return x * {i}\n```\n")
        if i % 3 == 0:
            parts.append(f"| a | b |\n|---|---|\n| {i} | {i * 2} |\n")
    return "\n".join(parts)


@pytest.mark.parametrize("chunk,delay", [(4, 0.0), (40, 0.002)])
async def test_long_answer_is_split_into_segments_that_render_exactly(tmp_path, chunk, delay):
    from glmchat.tui.markdown_segments import rendered_correctly, split_points
    from glmchat.tui.widgets.pending_segment import PendingSegment

    answer = _long_answer()
    engine = ScriptedEngine(scripts=["</think>" + answer], chunk_chars=chunk, delay=delay)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "long please", timeout=30)
        msg = app.chat_screen.chat.query_one(AssistantMessage)
        await wait_for(pilot, lambda: not msg.pending, 20)
        assert msg.answer == answer
        assert len(msg.segments) >= 3
        sources = msg.segment_sources()
        assert "".join(sources) == answer
        for src in sources[1:]:
            assert src[0] not in " \n" and not src.startswith("  - nested"), src[:30]  # a block's first line
        assert msg.rendered_correctly()
        assert not msg.query(PendingSegment)
        # a stored answer is cut the same way when the conversation is opened again
        await app.chat_screen.conversations.show(app.chat_screen.conversation_id)
        await pilot.pause()
        reopened = app.chat_screen.chat.query_one(AssistantMessage)
        assert len(reopened.segments) == len(split_points(answer)) + 1 and reopened.rendered_correctly()
        assert all(rendered_correctly(seg, src) for seg, src in zip(reopened.segments, reopened.segment_sources()))


# ---- titles and leaving -----------------------------------------------------------------------------


async def test_title_comes_from_the_store_and_model_titles_run_in_the_background(tmp_path):
    app = make_app(tmp_path, ["</think>Bananas are berries."])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "tell me about bananas\nsecond line")
        conv = app.options.history.store.get_conversation(app.chat_screen.conversation_id)
        assert conv.title and conv.title.startswith("tell me about bananas")
        assert app.chat_screen.session.engine.calls == 1  # no title request when model_titles is off

    settings = load_settings()
    settings.chat.model_titles = True
    engine = ScriptedEngine(scripts=["</think>Bananas are berries.", "Banana Botany Basics", "</think>Yes."])
    app = make_app(tmp_path / "b", engine=engine, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "tell me about bananas")
        await wait_for(pilot, lambda: app.options.history.store.get_conversation(app.chat_screen.conversation_id).title == "Banana Botany Basics")
        await wait_for(pilot, lambda: "Banana Botany Basics" in [i.conv.title for i in app.chat_screen.sidebar.query(ConversationItem)])
        title_request = engine.requests[1]
        assert title_request.enable_thinking is False and title_request.sampling.max_tokens == 24
        await send(pilot, app, "are they?")
        assert engine.calls == 3 and app.chat_screen.answers()[-1] == "Yes."  # only after the first exchange


async def test_quitting_closes_the_session_for_instant_resume(tmp_path):
    app = make_app(tmp_path, ["</think>hi"])
    closed: list[int | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "hello")
        app.chat_screen.session.close = lambda: closed.append(app.chat_screen.session.conversation_id)
        engine_closed = []
        app.chat_screen.engine.close = lambda: engine_closed.append(True)
        await pilot.press("ctrl+q")
        await pilot.pause()
    app.shutdown()
    assert closed == [app.chat_screen.conversation_id] and engine_closed == [True]


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


async def test_bad_model_path_from_the_real_factory_is_a_message_and_hint(tmp_path):
    from glmchat.engine.factory import open_engine

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    for path in (tmp_path / "missing.gguf", bad):

        def factory(progress, download_progress=None, p=path):
            return open_engine(load_settings(), model=p, progress=progress, interactive=False)

        app = make_app(tmp_path, factory=factory)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.chat_screen.load_error is not None, 20)
            await pilot.pause()
            err = app.chat_screen.chat.query(ErrorBlock).last()
            assert path.name in err.message and "\n" not in err.message and err.hint, (err.message, err.hint)
            assert not err.message.startswith("Loading the model failed")  # an expected failure, not a crash
            assert "Traceback" not in str(err.render())
            assert "model not loaded" in str(app.chat_screen.status.status_text())
