"""Escape injection in the TUI (issue 14), written as the attack: a workspace file whose name and
contents carry OSC 52 (clipboard), OSC 0 (window title) and CSI 2J (clear screen), shown through
/ls, /grep, /read and a tool call; a model that answers and thinks in escape sequences; a stored
conversation, a GGUF model name, an approval preview, a pick list and a download panel doing the
same. What the app writes to the terminal carries none of them: each shows as inert text (␛]52;…)."""

from __future__ import annotations

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.store import Store
from glmchat.tools import ToolRegistry, Workspace
from glmchat.tui.screens.approval import ApprovalScreen
from glmchat.tui.screens.pick import PickScreen
from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.conversation_item import ConversationItem
from glmchat.tui.widgets.download import DownloadOffer, DownloadPanel, FileState
from glmchat.tui.widgets.output_block import OutputBlock
from glmchat.tui.widgets.tool_block import ToolBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.hostile_text import (
    HOSTILE,
    HOSTILE_NAME,
    HOSTILE_TEXT,
    SHOWN_OSC52,
    SHOWN_TITLE,
    app_terminal_output,
    controls_in,
    foreign_controls,
)
from tests.tui_support import SIZE, engine_with, make_app, send, wait_for, wait_ready

BIG = (160, 50)  # room for every block on one screen


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / HOSTILE_NAME).write_text(HOSTILE_TEXT)
    (root / "notes.txt").write_text(HOSTILE_TEXT)
    return Workspace(root)


def rendered(widget) -> str:
    return "\n".join(str(s.render()) for s in widget.query("Static, Label")) or str(widget.render())


def assert_inert(app) -> str:
    """Nothing the app writes to the terminal now is a control character or sequence but its own."""
    out = app_terminal_output(app)
    assert foreign_controls(out) == [], foreign_controls(out)[:10]
    return out


async def finished_blocks(pilot, app, n: int) -> list[OutputBlock]:
    chat = app.chat_screen.chat
    await wait_for(pilot, lambda: len(chat.query(OutputBlock)) >= n and not any(b.running for b in chat.query(OutputBlock)))
    await pilot.pause()
    return list(chat.query(OutputBlock))


async def test_hostile_file_through_ls_grep_and_read(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=BIG) as pilot:
        await wait_ready(pilot, app)
        await app.chat_screen.run_slash("/ls")  # what Enter on a typed command calls
        await app.chat_screen.run_slash("/grep needle")
        ls_block, grep_block = await finished_blocks(pilot, app, 2)
        assert "evil" in ls_block.output and "needle" in grep_block.output  # the attack reached the blocks
        for block in (ls_block, grep_block):
            assert controls_in(rendered(block)) == []
        assert SHOWN_OSC52 in rendered(grep_block) and SHOWN_TITLE in rendered(grep_block)
        assert SHOWN_OSC52 in rendered(ls_block)
        assert HOSTILE in grep_block.output  # the output kept for attaching is the file's text, unchanged
        out = assert_inert(app)
        assert SHOWN_OSC52 in out  # shown, as text
        await app.chat_screen.run_slash(f"/read {HOSTILE_NAME}")
        await wait_for(pilot, lambda: app.chat_screen.session.pending_attachments)
        assert app.chat_screen.session.pending_attachments == [(HOSTILE_NAME, HOSTILE_TEXT)]  # sent as is
        assert_inert(app)  # the notice and the chip name the file
        await send(pilot, app, "what does it say?")
        assert HOSTILE in engine.requests[-1].messages[-1]["content"]  # the model gets the real text
        assert controls_in(rendered(app.chat_screen.chat.query(UserMessage).last())) == []
        assert_inert(app)


async def test_hostile_tool_call_and_model_output(tmp_path, ws):
    call = (
        "I will read it.</think><tool_call>read_file<arg_key>path</arg_key>"
        f"<arg_value>{HOSTILE_NAME}</arg_value></tool_call>"
    )
    answer = f"Thinking {HOSTILE} about it.</think>The file says: {HOSTILE_TEXT}\n```\n{HOSTILE}\n```\n"
    engine = ScriptedEngine(scripts=[call, answer])
    app = make_app(tmp_path, engine=engine, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=ws)
    async with app.run_test(size=BIG) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "read the evil file")
        block = app.chat_screen.chat.query_one(ToolBlock)
        assert block.arguments["path"] == HOSTILE_NAME and "needle" in block.output  # it ran on the hostile file
        assert controls_in(rendered(block)) == [] and SHOWN_OSC52 in rendered(block)
        msg = app.chat_screen.chat.query(AssistantMessage).last()
        msg.thinking.set_expanded(True)
        await pilot.pause()
        assert controls_in(msg.answer) == [] and SHOWN_TITLE in msg.answer
        assert controls_in(msg.thinking.text) == []
        assert_inert(app)
        stored = app.chat_screen.history.messages(app.chat_screen.conversation_id)
        assert HOSTILE in stored[-1].content  # the history keeps what the model wrote


async def test_hostile_stored_conversation_title_and_messages(tmp_path):
    store = Store(tmp_path / "conversations.db")
    conv = store.create_conversation(title=f"title {HOSTILE}")
    store.add_message(conv.id, "user", f"question {HOSTILE}")
    store.add_message(conv.id, "assistant", f"answer {HOSTILE_TEXT}", reasoning=f"thought {HOSTILE}")
    app = make_app(tmp_path, store=store, conversation_id=conv.id)
    async with app.run_test(size=BIG) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: app.chat_screen.chat.query(AssistantMessage))
        await pilot.pause()
        item = app.query(ConversationItem).first()
        assert controls_in(rendered(item)) == [] and SHOWN_OSC52 in rendered(item)
        assert controls_in(app.chat_screen.chat.query_one(AssistantMessage).answer) == []
        assert SHOWN_OSC52 in assert_inert(app)


async def test_hostile_paste_and_stored_message_in_the_prompt(tmp_path):
    """The editor shows what it holds and sends what it shows: a pasted escape sequence, or a stored
    (imported) message brought back by /edit, is in the prompt made visible."""
    from textual import events

    store = Store(tmp_path / "conversations.db")
    conv = store.create_conversation(title="imported")
    store.add_message(conv.id, "user", f"question {HOSTILE}")
    store.add_message(conv.id, "assistant", "answer")
    app = make_app(tmp_path, store=store, conversation_id=conv.id)
    async with app.run_test(size=BIG) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: app.chat_screen.chat.query(AssistantMessage))
        prompt = app.chat_screen.prompt
        await app.chat_screen.run_slash("/edit")
        await pilot.pause()
        assert prompt.text.startswith("question ") and controls_in(prompt.text) == []
        assert SHOWN_OSC52 in assert_inert(app)
        prompt.clear()
        prompt.focus()
        prompt.post_message(events.Paste(f"pasted {HOSTILE}"))
        await pilot.pause()
        assert prompt.text.startswith("pasted ") and controls_in(prompt.text) == []
        assert SHOWN_OSC52 in assert_inert(app)


async def test_hostile_model_name_in_status_bar_and_welcome(tmp_path):
    app = make_app(tmp_path, engine=engine_with({"model": f"GLM {HOSTILE}", "quant": "Q4\u009b2J"}))
    async with app.run_test(size=BIG) as pilot:
        await wait_ready(pilot, app)
        await pilot.pause()
        assert controls_in(str(app.chat_screen.status.status_text())) == []
        assert SHOWN_OSC52 in assert_inert(app)


async def test_hostile_approval_preview_pick_list_and_download_panel(tmp_path):
    import threading

    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        call = ToolCall(f"write_file{HOSTILE}", {"path": HOSTILE_NAME, "content": HOSTILE_TEXT}, "")
        t = threading.Thread(target=lambda: app.chat_screen.turns.approve(call, "write", f"+++ {HOSTILE_NAME}\n+{HOSTILE_TEXT}"))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.pause()
        assert SHOWN_OSC52 in assert_inert(app)
        await pilot.press("d")
        t.join(5)
        app.push_screen(PickScreen(f"Pick {HOSTILE}", [("a", f"/models/{HOSTILE_NAME}")]))
        await pilot.pause()
        assert SHOWN_OSC52 in assert_inert(app)
        await pilot.press("escape")
        offer = DownloadOffer(quant=f"Q{HOSTILE}", files=[FileState(f"dir/{HOSTILE_NAME}", 10)], total=10, fits_note=HOSTILE)
        await app.chat_screen.mount(DownloadPanel(offer), before=0)
        await pilot.pause()
        assert SHOWN_OSC52 in assert_inert(app)
