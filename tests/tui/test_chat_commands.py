"""The chat's slash commands: parsing, /new /retry /edit, /profile /think /system /title, /export, /compact,
/model without a factory, /quit."""

from __future__ import annotations

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui import commands
from glmchat.tui.markdown_segments import code_blocks
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import SIZE, errors, make_app, notices, send, wait_for, wait_ready


def test_code_blocks_and_command_parsing():
    assert code_blocks("a\n```py\nx\n```\nb\n~~~\ny\n~~~\n") == ["x", "y"]
    assert code_blocks("```\nunclosed\n") == ["unclosed"]
    cmd, raw, args = commands.parse("/export json out file.json")
    assert cmd.name == "export" and args == ["json", "out", "file.json"]
    cmd, raw, args = commands.parse("/system You are  terse.")
    assert raw == "You are  terse."
    assert commands.is_command("/new") and not commands.is_command("/usr/bin is a path")
    assert commands.suggest("exprt")[0] == "export"  # the closest first (others may follow)


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


async def test_compact_with_nothing_to_compact_says_so_at_once_without_a_turn(tmp_path):
    app = make_app(tmp_path, ["</think>a1", "</think>must not be asked"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        for expected in (1, 2):  # an empty conversation, then one with a single exchange
            if expected == 2:
                await send(pilot, app, "one")
            done = app.chat_screen.turns.turns_done
            await app.chat_screen.run_slash("/compact")
            await pilot.pause()
            assert notices(app).count("Nothing to compact yet.") == expected, notices(app)
            assert not any(n.startswith("Compacting") for n in notices(app)), notices(app)
            await pilot.pause(0.2)
            assert app.chat_screen.turns.turns_done == done  # no turn was started
        assert [m["role"] for m in app.chat_screen.session.messages] == ["user", "assistant"]
