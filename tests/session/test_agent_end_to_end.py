"""The coding-agent loop end to end on the real engine: the tiny GLM-architecture model, grammar-forced
tool calls, the real tools, approval in the TUI (the pilot presses Allow / Deny), the final answer."""

from __future__ import annotations

from typing import Any

import pytest

from glmchat.engine.base import CancelToken, ChatRequest
from glmchat.session import Approval, ChatSession, ToolResultEvent, TurnFinished
from glmchat.settings import load_settings
from glmchat.tools import ToolRegistry, Workspace
from tests.fixtures.tiny_glm import gbnf_literal
from tests.tui_support import make_app, wait_for, wait_ready

pytestmark = pytest.mark.slow

WRITE = (
    "The user wants a note.</think>Writing it.<tool_call>write_file<arg_key>path</arg_key><arg_value>note.txt</arg_value>"
    "<arg_key>content</arg_key><arg_value>hello from glm</arg_value></tool_call>"
)
FINAL = "It is written.</think>Done: note.txt holds the greeting."


class ForcedEngine:
    """The real LocalEngine, with one GBNF grammar per generation forcing what the model writes."""

    def __init__(self, engine: Any, targets: list[str]) -> None:
        self.engine, self.targets, self.calls = engine, targets, 0
        self.info = engine.info

    def stream(self, request: ChatRequest, cancel: CancelToken | None = None):
        request.grammar = "root ::= " + gbnf_literal(self.targets[min(self.calls, len(self.targets) - 1)])
        self.calls += 1
        return self.engine.stream(request, cancel)

    def count_tokens(self, request: ChatRequest) -> int:
        return self.engine.count_tokens(request)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def tiny_engine(tiny_glm_path):
    from glmchat.engine.local import LocalEngine

    eng = LocalEngine.load(tiny_glm_path, n_ctx=8192, n_threads=1)
    yield eng
    eng.close()


def test_session_call_approval_result_answer(tiny_engine, tmp_path):
    asked = []

    def approver(call, risk, preview):
        asked.append((call.name, risk, preview))
        return Approval("allow_once")

    s = ChatSession(
        ForcedEngine(tiny_engine, [WRITE, FINAL]), load_settings(), tools=ToolRegistry.builtin(), tools_enabled=True,
        workspace=Workspace(tmp_path), approver=approver,
    )
    events = list(s.send("Write a note saying hello."))
    assert asked and asked[0][0] == "write_file" and "+hello from glm" in asked[0][2]
    assert (tmp_path / "note.txt").read_text() == "hello from glm"
    res = [e for e in events if isinstance(e, ToolResultEvent)]
    assert len(res) == 1 and res[0].ok
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.answer == "Done: note.txt holds the greeting." and fin.rounds == 2
    assert fin.thinking == "It is written."


@pytest.mark.parametrize("key,written", [("a", True), ("d", False)])
async def test_tui_allow_and_deny_on_the_real_engine(tiny_engine, tmp_path, key, written):
    from glmchat.tui.screens.approval import ApprovalScreen

    ws = tmp_path / "ws"
    ws.mkdir()
    engine = ForcedEngine(tiny_engine, [WRITE, FINAL])
    app = make_app(tmp_path, engine=engine, tools=ToolRegistry.builtin(), tools_enabled=True, workspace=Workspace(ws))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot, app)
        app.chat_screen.prompt.load_text("Write a note saying hello.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
        await pilot.press(key)
        await wait_for(pilot, lambda: app.chat_screen.turns.turns_done == 1, timeout=60)
        assert (ws / "note.txt").exists() is written
        assert app.chat_screen.answers()[-1] == "Done: note.txt holds the greeting."
        # the second generation saw the tool result (or the denial) as an observation
        msgs = app.chat_screen.session.messages
        tool_msg = [m for m in msgs if m["role"] == "tool"][0]
        assert ("denied" in tool_msg["content"]) is (not written)
        stored = app.options.history.store.messages(app.chat_screen.session.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
