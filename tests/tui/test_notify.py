"""Notifications: the sequence each terminal gets, when glmchat stays quiet, and the TUI calling it."""

from __future__ import annotations

import threading

import pytest
from textual import events

from glmchat.engine.scripted import ScriptedEngine
from glmchat.settings import load_settings
from glmchat.tui.notify import (
    BEL,
    Notifier,
    notification_sequence,
    notification_text,
    terminal_kind,
)
from glmchat.tui.screens.approval import ApprovalScreen
from tests.hostile_text import HOSTILE, HOSTILE_NAME, HOSTILE_TEXT
from tests.tui_support import make_app, send, wait_for, wait_ready


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}, "osc99"),
        ({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"}, "osc777"),
        ({"TERM_PROGRAM": "ghostty", "TERM": "xterm-ghostty"}, "osc777"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"TERM": "xterm-256color", "WT_SESSION": "abc"}, "bel"),  # Windows Terminal: no notification sequence
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "Apple_Terminal"}, "bel"),
        ({"TERM_PROGRAM": "tmux", "TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}, "bel"),
        ({"TERM_PROGRAM": "iTerm.app", "TERM": "screen-256color", "TMUX": "/tmp/t,1,0"}, "bel"),  # tmux inside iTerm2
        ({}, "bel"),
    ],
)
def test_the_sequence_is_chosen_by_terminal(env, kind):
    assert terminal_kind(env) == kind


def test_each_sequence_is_well_formed():
    text = "glmchat: answer ready"
    assert notification_sequence(text, {"TERM": "xterm-kitty"}) == f"\x1b]99;;{text}\x1b\\"
    assert notification_sequence(text, {"TERM_PROGRAM": "iTerm.app"}) == f"\x1b]9;{text}\x1b\\"
    assert notification_sequence(text, {"TERM": "foot"}) == f"\x1b]777;notify;glmchat;{text}\x1b\\"
    assert notification_sequence(text, {"TERM": "xterm"}) == BEL


@pytest.mark.parametrize("payload", [HOSTILE, HOSTILE_NAME, HOSTILE_TEXT, "\x07\x1b\\\x9c"])
def test_a_title_cannot_smuggle_control_characters(payload):
    text = notification_text("answer ready", f"title {payload} end")
    assert text.startswith("glmchat: answer ready — title")
    assert all(ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F for ch in text), repr(text)
    assert "\u202e" not in text and len(text) <= 120
    sequence = notification_sequence(text, {"TERM": "foot"})
    assert sequence.count("\x1b") == 2 and sequence.endswith("\x1b\\")  # its own ESC ] and ST, nothing else


def _notifier(*, enabled=True, focused=False, env=None) -> tuple[Notifier, list[str]]:
    sent: list[str] = []
    return Notifier(enabled, is_focused=lambda: focused, emit=sent.append, env=env or {"TERM": "foot"}), sent


def test_a_long_answer_notifies_while_unfocused():
    notifier, sent = _notifier()
    assert notifier.answer_finished(12.0, "Rust lifetimes")
    assert sent == ["\x1b]777;notify;glmchat;glmchat: answer ready — Rust lifetimes\x1b\\"]


def test_a_short_answer_does_not_notify():
    notifier, sent = _notifier()
    assert not notifier.answer_finished(9.5, "quick")
    assert sent == []


def test_nothing_while_focused_or_when_turned_off():
    focused, sent_focused = _notifier(focused=True)
    off, sent_off = _notifier(enabled=False)
    for n in (focused, off):
        assert not n.answer_finished(60.0) and not n.approval_waiting()
    assert sent_focused == sent_off == []


def test_an_approval_notifies_at_once_and_rings_the_bell_elsewhere():
    notifier, sent = _notifier(env={"TERM": "xterm-256color"})
    assert notifier.approval_waiting("t")
    assert sent == [BEL]


def test_notify_is_a_ui_setting_on_by_default(tmp_path, monkeypatch):
    assert load_settings().ui.notify is True
    cfg = tmp_path / "config.toml"
    cfg.write_text("[ui]\nnotify = false\n", encoding="utf-8")
    assert load_settings(cfg).ui.notify is False


# ---- the TUI calls it ------------------------------------------------------------------------------


async def test_an_unfocused_long_turn_calls_the_notifier(tmp_path):
    engine = ScriptedEngine(scripts=["</think>first", "</think>the second answer, streamed slowly"], delay=0.05)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot, app)
        turns = app.chat_screen.turns
        sent: list[str] = []
        turns.notifier.emit = sent.append
        turns.notifier.env = {"TERM_PROGRAM": "iTerm.app"}
        turns.notifier.long_answer_s = 0.0  # every answer counts as long here
        await send(pilot, app, "hello")  # focused: nothing
        assert sent == []
        app.chat_screen.prompt.load_text("again")
        await pilot.press("enter")  # a key press means the terminal is in front; then the user looks away
        app.post_message(events.AppBlur())
        await wait_for(pilot, lambda: not app.app_focus)
        assert turns.generating
        await wait_for(pilot, lambda: turns.turns_done == 2)
        assert len(sent) == 1 and sent[0].startswith("\x1b]9;glmchat: answer ready")
        assert "hello" in sent[0]  # the conversation's title, from the first message


async def test_an_unfocused_approval_calls_the_notifier(tmp_path):
    from glmchat.glm import ToolCall

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot, app)
        turns = app.chat_screen.turns
        sent: list[str] = []
        turns.notifier.emit = sent.append
        turns.notifier.env = {"TERM": "xterm-kitty"}
        app.post_message(events.AppBlur())
        await wait_for(pilot, lambda: not app.app_focus)
        call = ToolCall("write_file", {"path": "a.txt", "content": "hi"}, "")
        t = threading.Thread(target=lambda: turns.approve(call, "write", ""))
        t.start()
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await wait_for(pilot, lambda: bool(sent))
        assert sent == ["\x1b]99;;glmchat: a tool call waits for your approval\x1b\\"]
        await pilot.press("d")
        t.join(5)
