"""A turn streaming into the chat: the thinking pane, the answer as Markdown (in segments when long), errors,
cancelling, a turn cut off by a full context, and auto-scroll."""

from __future__ import annotations

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tui.widgets.answer_markdown import CopyableFence
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.thinking_pane import ThinkingPane
from tests.tui_support import MIXED, SIZE, errors, make_app, send, wait_for, wait_ready

# ---- thinking and answer panes -------------------------------------------------------------------


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


# ---- how a turn ends -----------------------------------------------------------------------------


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


async def test_a_turn_stopped_by_a_full_context_says_so(tmp_path):
    from dataclasses import replace

    from glmchat.engine.base import Finished
    from glmchat.tui.widgets.assistant_message import AssistantMessage

    class FullContext(ScriptedEngine):
        def stream(self, request, cancel=None):
            for item in super().stream(request, cancel):
                if isinstance(item, Finished):
                    item = Finished(replace(item.usage, stop_reason="length", note="the context is full (512 tokens)"))
                yield item

    app = make_app(tmp_path, engine=FullContext(scripts=["</think>and then it"]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "go on")
        msg = list(app.chat_screen.chat.query(AssistantMessage))[-1]
        shown = str(msg.query_one(".message-mark").render())
        assert "context is full (512 tokens)" in shown, shown
        assert "token limit" not in shown


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


# ---- long answers: segmented Markdown ------------------------------------------------------------


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
