"""`@` mentions in the chat: files attached when sent, the file picker (opens on @, filters, inserts, .gitignore)."""

from __future__ import annotations

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.tools import Workspace
from glmchat.tui.widgets.file_picker import FilePicker
from tests.tui_support import errors, make_app, send, wait_for, wait_ready

SIZE = (110, 36)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "notes.txt").write_text("remember the milk\n")
    (root / "src" / "app.py").write_text("def main():\n    return 42\n")
    (root / "build" / "app.o").write_text("binary-ish\n")
    (root / ".gitignore").write_text("build/\n")
    return Workspace(root)


def last_user_content(engine: ScriptedEngine) -> str:
    return [m for m in engine.requests[-1].messages if m["role"] == "user"][-1]["content"]


async def test_a_mentioned_file_goes_with_the_message(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>Milk."])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "what does @notes.txt say?")
        content = last_user_content(engine)
        assert content.startswith("what does @notes.txt say?") and "notes.txt\n```\nremember the milk\n```" in content


async def test_emails_and_missing_paths_are_sent_as_typed(tmp_path, ws):
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        await send(pilot, app, "mail a@b.com about @nope.txt")
        assert last_user_content(engine) == "mail a@b.com about @nope.txt" and not errors(app)


async def test_a_mention_that_cannot_be_attached_keeps_the_message(tmp_path, ws):
    (ws.root / "blob.bin").write_bytes(b"\x00\x01" * 10)
    engine = ScriptedEngine(scripts=["</think>ok"])
    app = make_app(tmp_path, engine=engine, workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("look at @blob.bin")
        await pilot.press("enter")
        await wait_for(pilot, lambda: errors(app))
        assert "@blob.bin" in errors(app)[-1].message and app.chat_screen.prompt.text == "look at @blob.bin"
        assert engine.requests == []


async def test_the_picker_opens_on_at_filters_and_inserts_the_path(tmp_path, ws):
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        prompt = app.chat_screen.prompt
        picker = app.chat_screen.query_one(FilePicker)
        prompt.focus()
        await pilot.press("r", "e", "a", "d", "space", "@")
        await wait_for(pilot, lambda: picker.display and picker.files is not None)
        assert picker.files == [".gitignore", "notes.txt", "src/app.py"]  # build/ is ignored
        await pilot.press("a", "p", "p")
        await pilot.pause()
        assert picker.display and picker.chosen() == "src/app.py"
        await pilot.press("tab")
        await pilot.pause()
        assert prompt.text == "read @src/app.py " and not picker.display
        await pilot.press("@", "n", "t")
        await pilot.pause()
        assert picker.chosen() == "notes.txt"
        await pilot.press("enter")  # Enter takes the choice; it does not send
        await pilot.pause()
        assert prompt.text == "read @src/app.py @notes.txt " and not picker.display


async def test_escape_closes_the_picker_and_up_down_move_in_it(tmp_path, ws):
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        picker = app.chat_screen.query_one(FilePicker)
        app.chat_screen.prompt.focus()
        await pilot.press("@")
        await wait_for(pilot, lambda: picker.display and picker.files is not None)
        first = picker.chosen()
        await pilot.press("down")
        assert picker.chosen() != first
        await pilot.press("escape")
        await pilot.pause()
        assert not picker.display and app.chat_screen.prompt.text == "@"


async def test_an_email_being_typed_opens_no_picker(tmp_path, ws):
    app = make_app(tmp_path, engine=ScriptedEngine(scripts=["</think>ok"]), workspace=ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.focus()
        await pilot.press("a", "@", "b")
        await pilot.pause()
        assert not app.chat_screen.query_one(FilePicker).display
