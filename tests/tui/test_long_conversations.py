"""Long stored conversations open at once: the last screen first, older messages as the user scrolls
up (in order, none missing or twice, the view kept still), the whole conversation still copied and
exported, new turns sent, and stored messages far above unmounted again when a turn starts."""

from __future__ import annotations

from glmchat.store import Store
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.thinking_pane import ThinkingPane
from glmchat.tui.widgets.tool_block import ToolBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import SIZE, errors, make_app, send, wait_for, wait_ready

TURNS = 150  # 300 messages, and a tool call with its result


def rich_answer(i: int) -> str:
    return f"Answer **{i}**:\n\n```python\nprint({i})\n```\n\n- point {i}\n- another point\n\nDone {i}."


def answer(i: int) -> str:
    return f"Answer {i}, in a short paragraph."


def stored_conversation(tmp_path, answer=answer, turns: int = TURNS) -> tuple[Store, int]:
    store = Store(tmp_path / "conversations.db")
    conv = store.create_conversation(title="long")
    for i in range(turns):
        store.add_message(conv.id, "user", f"question {i}")
        if i == 3:
            call = {"id": "call-3", "name": "read_file", "arguments": {"path": "notes.txt"}}
            store.add_message(conv.id, "assistant", "", reasoning="I should read it.", tool_calls=[call])
            store.add_message(conv.id, "tool", "notes from the file", tool_call_id="call-3", meta={"ok": True})
        store.add_message(conv.id, "assistant", answer(i), reasoning=f"thinking about {i}")
    return store, conv.id


def questions(app) -> list[str]:
    return [u.text for u in app.chat_screen.chat.query_children(UserMessage)]


def mounted_answers(app) -> list[str]:
    return [m.answer for m in app.chat_screen.chat.query_children(AssistantMessage) if m.answer]


async def opened(pilot, app, answer=answer, turns: int = TURNS) -> None:
    await wait_ready(pilot, app)
    await wait_for(pilot, lambda: mounted_answers(app)[-1:] == [answer(turns - 1)])


async def scroll_to_the_top(pilot, app, timeout: float = 60.0) -> None:
    """Scroll up as a user would, until every stored message is mounted."""
    chat = app.chat_screen.chat

    def all_in() -> bool:
        chat.scroll_to(y=0, animate=False, immediate=True)
        return not chat.older and not chat._loading

    await wait_for(pilot, all_in, timeout, step=0.05)


async def test_a_long_conversation_opens_with_its_last_message_and_few_widgets(tmp_path):
    store, cid = stored_conversation(tmp_path, rich_answer)
    app = make_app(tmp_path, store=store, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app, rich_answer)
        chat = app.chat_screen.chat
        last = chat.query_children(AssistantMessage).last()
        assert last.rendered_correctly()
        assert last.region.intersection(chat.content_region).height > 0  # on screen: the log is at its end
        assert len(chat.children) < TURNS // 4 and chat.older
        assert questions(app)[-1] == f"question {TURNS - 1}"
        # the stored thought is collapsed and its text not rendered until expanded
        pane = last.query_one(ThinkingPane)
        body = pane.query_one(".thinking-body")
        assert not pane.expanded and not body.display and str(body.render()) == ""
        pane.action_toggle()
        await pilot.pause()
        assert body.display and "thinking about" in str(body.render())
        assert not errors(app)


async def test_scrolling_up_brings_every_older_message_in_order_and_keeps_the_view(tmp_path):
    store, cid = stored_conversation(tmp_path)
    app = make_app(tmp_path, store=store, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        chat = app.chat_screen.chat
        await wait_for(pilot, lambda: not chat._loading)
        # scrolled to the top, a batch goes in above and what was on screen stays where it was
        chat.scroll_to(y=0, animate=False, immediate=True)
        anchor = chat.children[0]
        y_before, count = anchor.region.y, len(chat.children)
        await wait_for(pilot, lambda: len(chat.children) > count and not chat._loading)
        await pilot.pause()
        assert anchor.region.y == y_before and chat.scroll_y > 0
        await scroll_to_the_top(pilot, app)
        assert questions(app) == [f"question {i}" for i in range(TURNS)]
        assert mounted_answers(app) == [answer(i) for i in range(TURNS)]
        tools = list(chat.query_children(ToolBlock))
        assert len(tools) == 1 and tools[0].output == "notes from the file"
        assert not errors(app)


async def test_copy_export_and_a_new_turn_cover_the_whole_conversation(tmp_path):
    store, cid = stored_conversation(tmp_path)
    app = make_app(tmp_path, ["</think>the new answer"], store=store, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        screen = app.chat_screen
        # answers not mounted yet count: /copy N reaches the first one
        assert screen.answers() == [answer(i) for i in range(TURNS)]
        screen.prompt.load_text(f"/copy {TURNS}")
        await pilot.press("enter")
        await pilot.pause()
        assert app.clipboard == answer(0)
        md = tmp_path / "all.md"
        screen.prompt.load_text(f"/export md {md}")
        await pilot.press("enter")
        await wait_for(pilot, md.exists)
        text = md.read_text()
        assert "question 0" in text and f"question {TURNS - 1}" in text and answer(0) in text
        await send(pilot, app, "one more")
        assert screen.answers()[-1] == "the new answer" and len(screen.answers()) == TURNS + 1
        assert questions(app)[-1] == "one more"
        assert len(screen.session.messages) >= 2 * TURNS + 2
        assert not errors(app)


async def test_back_at_the_end_stored_messages_far_above_are_unmounted_and_come_back(tmp_path):
    turns = 80
    store, cid = stored_conversation(tmp_path, turns=turns)
    app = make_app(tmp_path, ["</think>the new answer"], store=store, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app, turns=turns)
        chat = app.chat_screen.chat
        await scroll_to_the_top(pilot, app)
        everything = len(chat.children)
        chat.scroll_end(animate=False, immediate=True)
        await wait_for(pilot, lambda: chat.follow)
        await send(pilot, app, "one more")
        assert len(chat.children) < everything // 2 and chat.older  # about three screens stay
        assert mounted_answers(app)[-1] == "the new answer"
        await scroll_to_the_top(pilot, app)
        assert questions(app) == [f"question {i}" for i in range(turns)] + ["one more"]
        assert mounted_answers(app) == [answer(i) for i in range(turns)] + ["the new answer"]


async def test_page_up_from_the_prompt_scrolls_the_chat_and_ctrl_end_comes_back(tmp_path):
    """Keys scroll the chat while the prompt keeps the focus: PageUp brings older messages in, and
    Ctrl+End goes back to the end (which follows new text again)."""
    store, cid = stored_conversation(tmp_path, turns=40)
    app = make_app(tmp_path, store=store, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app, turns=40)
        chat = app.chat_screen.chat
        assert app.chat_screen.prompt.has_focus
        await wait_for(pilot, lambda: chat.scroll_y >= chat.max_scroll_y - 1)
        first = questions(app)[0]
        for _ in range(6):
            await pilot.press("pageup")
            await pilot.pause(0.1)
        assert chat.scroll_y < chat.max_scroll_y - 1
        assert app.chat_screen.prompt.has_focus  # the keys did not move the focus or the input's cursor
        await wait_for(pilot, lambda: questions(app)[0] != first)  # older messages came in above
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: chat.scroll_y >= chat.max_scroll_y - 1)
        assert not errors(app)
