"""The TUI on the real embedded engine with the small SmolLM2 model: type, send, it streams, it is saved."""

from __future__ import annotations

import pytest

from glmchat.tui.widgets.assistant_message import AssistantMessage
from glmchat.tui.widgets.error_block import ErrorBlock
from glmchat.tui.widgets.user_message import UserMessage
from tests.tui_support import make_app, wait_for

pytestmark = pytest.mark.slow


async def test_real_model_streams_answer_and_saves_it(tmp_path, smollm2_path):
    pytest.importorskip("llama_cpp")
    from glmchat.engine.local import LocalEngine
    from glmchat.settings import load_settings

    settings = load_settings()
    settings.chat.thinking = "off"  # SmolLM2's template has no thinking block
    settings.profiles["general"] = settings.profiles["general"].__class__(temperature=0.0, top_k=1, max_tokens=12, seed=1)
    progress_seen: list[float] = []

    def factory(progress):
        return LocalEngine.load(smollm2_path, n_ctx=1024, progress=lambda f: (progress_seen.append(f), progress(f, f"Loading {f:.0%}")))

    app = make_app(tmp_path, settings=settings, factory=factory)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"What is the capital of France?")
        await wait_for(pilot, lambda: app.chat_screen.session is not None or app.chat_screen.load_error is not None, 120)
        assert app.chat_screen.load_error is None, app.chat_screen.load_error
        assert progress_seen and progress_seen[-1] == pytest.approx(1.0)
        seen_partial = []
        await pilot.press("enter")

        def progressed() -> bool:
            msgs = app.chat_screen.chat.query(AssistantMessage)
            if msgs and app.chat_screen.generating and msgs.first().answer:
                seen_partial.append(msgs.first().answer)
            return app.chat_screen.turns.turns_done == 1

        await wait_for(pilot, progressed, 180, step=0.01)
        assert not app.chat_screen.chat.query(ErrorBlock), [e.message for e in app.chat_screen.chat.query(ErrorBlock)]
        answer = app.chat_screen.answers()[-1]
        assert answer.strip()
        assert app.chat_screen.chat.query_one(UserMessage).text == "What is the capital of France?"
        stored = app.options.history.store.messages(app.chat_screen.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].content.strip() == answer.strip() and stored[1].status == "complete"
        assert stored[1].usage and stored[1].usage["completion_tokens"] > 0
        line = str(app.chat_screen.status.status_text())
        assert "CPU" in line and "tok/s" in line


async def test_real_model_read_during_load_counts_the_chip_and_shows_prompt_progress(tmp_path, smollm2_path):
    """SmolLM2 with n_batch 64: a /read and a question typed while it loads both reach it; the chip is
    counted by its tokenizer once loaded; the status bar shows the prompt's progress before the answer."""
    pytest.importorskip("llama_cpp")
    import re
    import threading

    from glmchat.engine.local import LocalEngine
    from glmchat.settings import load_settings
    from glmchat.tools import Workspace
    from glmchat.tui.widgets.attachment_bar import AttachmentBar

    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.md").write_text("".join(f"Note {i}: the meeting moved to room {i + 100}.\n" for i in range(60)))
    settings = load_settings()
    settings.chat.thinking = "off"
    settings.profiles["general"] = settings.profiles["general"].__class__(temperature=0.0, top_k=1, max_tokens=8, seed=1)

    typed = threading.Event()

    def factory(progress):
        typed.wait(30)  # the user types while the model loads
        return LocalEngine.load(smollm2_path, n_ctx=2048, n_batch=64, n_threads=2)

    app = make_app(tmp_path, settings=settings, factory=factory, workspace=Workspace(root))
    states: list[str] = []
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.chat_screen
        bar = app.query_one("#attachments", AttachmentBar)
        original = screen.status.refresh_line

        def spy() -> None:
            original()
            states.append(str(screen.status.status_text()))

        screen.status.refresh_line = spy
        shown: list[list[str]] = []
        show = bar.show

        def record(chips, n_ctx=0) -> None:
            show(chips, n_ctx)
            shown.append(list(bar.labels))

        bar.show = record
        for text in ("/read notes.md", "Which room is note 3 in?"):
            screen.prompt.load_text(text)
            await pilot.press("enter")
            await pilot.pause()
        assert screen.session is None and screen.held == ["Which room is note 3 in?"] and bar.labels[0].startswith("notes.md · ~")
        typed.set()
        await wait_for(pilot, lambda: screen.turns.turns_done == 1, 180)
        assert not screen.chat.query(ErrorBlock), [e.message for e in screen.chat.query(ErrorBlock)]
        sent = screen.session.messages[0]["content"]
        assert sent.startswith("Which room is note 3 in?") and "room 103" in sent
        engine = screen.engine
        body = (root / "notes.md").read_text()
        tokens = len(engine.tokenize(f"notes.md\n```\n{body.rstrip(chr(10))}\n```", add_special=False))
    assert any(re.search(r"prompt [\d,]+/[\d,]+", s) for s in states), states  # progress before the answer
    counted = [labels[0] for labels in shown if labels and "~" not in labels[0]]  # by the model's tokenizer
    expected = f"{tokens / 1000:.1f}k tok" if tokens >= 1000 else f"{tokens} tok"
    assert counted and counted[0].startswith(f"notes.md · {expected} · "), (shown, tokens)
    assert not bar.display  # sent with the message
