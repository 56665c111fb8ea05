"""Conversation titles: from the first message, written by the model in the background, set with /title
(before the first message too, and not without history)."""

from __future__ import annotations

from glmchat.engine.scripted import ScriptedEngine
from glmchat.settings import load_settings
from glmchat.tui.widgets.conversation_item import ConversationItem
from tests.tui_support import SIZE, make_app, notices, send, wait_for, wait_ready


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


async def test_title_before_the_first_message_is_applied_when_the_conversation_is_saved(tmp_path):
    app = make_app(tmp_path, ["</think>ok"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/title Parser work")
        await pilot.pause()
        assert any("Parser work" in n for n in notices(app))
        await send(pilot, app, "hello there")
        assert app.chat_screen.conversation_id is not None
        titles = {c.id: c.title for c in app.options.history.store.list_conversations()}
        assert titles[app.chat_screen.conversation_id] == "Parser work"
        # a new conversation does not inherit it
        await app.chat_screen.conversations.new()
        await send(pilot, app, "second one")
        titles = {c.id: c.title for c in app.options.history.store.list_conversations()}
        assert titles[app.chat_screen.conversation_id] != "Parser work"


async def test_title_without_history_says_why(tmp_path):
    app = make_app(tmp_path, store=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/title Something")
        await pilot.pause()
        from glmchat.tui.widgets.error_block import ErrorBlock

        assert any("history is off" in e.message.lower() for e in app.chat_screen.chat.query(ErrorBlock))
