"""The agent loop in the session: tool calls → approval → results → final answer; store round trip."""

from __future__ import annotations

from glmchat.engine.scripted import ScriptedEngine
from glmchat.glm import render_prompt
from glmchat.session import Approval, ChatSession, ToolResultEvent, TurnFinished
from glmchat.settings import load_settings
from glmchat.store import Store
from glmchat.tools import Decision, ToolRegistry, Workspace, headless_approval
from glmchat.tools.policy import NO_APPROVER
from tests.fixtures import GLM47_TEMPLATE as TEMPLATE
from tests.template_reference import reference

READ = "I need the file.</think>Reading it.<tool_call>read_file<arg_key>path</arg_key><arg_value>notes.txt</arg_value></tool_call>"
WRITE = "Write it.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>out.txt</arg_value><arg_key>content</arg_key><arg_value>hello\n</arg_value></tool_call>"
DONE = "Done.</think>The file says hi."


def session(tmp_path, scripts, approver=None, store=None, policy=None):
    (tmp_path / "notes.txt").write_text("hi there\n")
    engine = ScriptedEngine(scripts)
    s = ChatSession(
        engine, load_settings(), store=store, tools=ToolRegistry.builtin(), tools_enabled=True,
        workspace=Workspace(tmp_path), approver=approver, approve_policy=policy,
    )
    return s, engine


def test_read_tool_runs_without_asking_and_the_loop_finishes(tmp_path):
    asked = []
    s, engine = session(tmp_path, [READ, DONE], approver=lambda *a: asked.append(a) or Approval("deny"))
    events = list(s.send("what is in notes.txt?"))
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert len(results) == 1 and results[0].ok and "hi there" in results[0].output and results[0].decision == "auto"
    assert not asked  # auto-read policy: read tools inside the workspace do not ask
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.answer == "The file says hi." and fin.rounds == 2
    # the second request carries the call and its result back to the model
    msgs = engine.requests[1].messages
    assert msgs[-2]["tool_calls"][0]["function"] == {"name": "read_file", "arguments": {"path": "notes.txt"}}
    assert msgs[-1]["role"] == "tool" and "hi there" in msgs[-1]["content"]
    assert engine.requests[0].sampling.temperature == 0.7  # the tool profile while tools are on
    assert engine.requests[0].tools and any(t["function"]["name"] == "run_shell" for t in engine.requests[0].tools)


def test_write_asks_and_allow_runs_it(tmp_path):
    seen = []

    def approver(call, risk, preview):
        seen.append((call.name, risk, preview))
        return Approval("allow_once")

    s, _ = session(tmp_path, [WRITE, DONE], approver=approver)
    events = list(s.send("write hello"))
    assert seen and seen[0][0] == "write_file" and seen[0][1] == "write" and "+hello" in seen[0][2]
    assert (tmp_path / "out.txt").read_text() == "hello\n"
    assert [e.decision for e in events if isinstance(e, ToolResultEvent)] == ["allow_once"]


def test_deny_tells_the_model_and_writes_nothing(tmp_path):
    s, engine = session(tmp_path, [WRITE, DONE], approver=lambda *a: Approval("deny", "not now"))
    events = list(s.send("write hello"))
    res = [e for e in events if isinstance(e, ToolResultEvent)][0]
    assert res.decision == "deny" and not (tmp_path / "out.txt").exists()
    assert "denied" in engine.requests[1].messages[-1]["content"] and "not now" in engine.requests[1].messages[-1]["content"]


def test_headless_without_approver_denies_writes(tmp_path):
    s, _ = session(tmp_path, [WRITE, DONE], approver=None)
    events = list(s.send("write hello"))
    assert [e.decision for e in events if isinstance(e, ToolResultEvent)] == ["deny"]
    assert not (tmp_path / "out.txt").exists()


def test_allow_for_session_is_remembered(tmp_path):
    calls = []
    s, _ = session(tmp_path, [WRITE, DONE, WRITE, DONE], approver=lambda *a: calls.append(1) or Approval("allow_session"))
    list(s.send("one"))
    list(s.send("two"))
    assert len(calls) == 1


def test_rounds_are_capped(tmp_path):
    s, _ = session(tmp_path, [READ])  # the model never stops calling
    s.settings.tools.max_rounds = 3
    events = list(s.send("loop"))
    assert sum(isinstance(e, ToolResultEvent) for e in events) == 3
    assert isinstance(events[-1], TurnFinished) and events[-1].rounds == 3


def test_tool_conversation_round_trips_the_store_into_an_identical_prompt(tmp_path):
    store = Store(tmp_path / "c.db")
    s, engine = session(tmp_path, [READ, DONE, READ, DONE], store=store)
    s.thinking = "preserve"
    list(s.send("first"))
    list(s.send("second"))
    live = s.build_request()
    reopened = ChatSession(engine, load_settings(), store=store, conversation_id=s.conversation_id, tools=ToolRegistry.builtin(), tools_enabled=True,
                           workspace=Workspace(tmp_path))  # the same workspace: the system prompt describes it
    again = reopened.build_request()
    assert again.messages == live.messages
    for clear in (True, False):
        ours = render_prompt(TEMPLATE, again.messages, tools=again.tools, clear_thinking=clear)
        assert ours == reference(again.messages, tools=again.tools, clear_thinking=clear)
    assert ours.count("<tool_call>read_file") == 2 and ours.count("<tool_response>") == 2


def test_the_session_asks_the_one_approval_policy(tmp_path):
    """Approval is the policy module's Decision; the denial text the model gets is Decision.denial_text."""
    s, engine = session(tmp_path, [WRITE, DONE], approver=lambda *a: Approval("deny", "not now"))
    assert Approval is Decision and s.approval.workspace.root == tmp_path.resolve() and s.approve_policy == "auto-read"
    list(s.send("write hello"))
    assert engine.requests[1].messages[-1]["content"] == Decision.deny("not now").denial_text("write_file")
    assert s.session_allowed == set()


def test_ask_headless_approval_keeps_its_behaviour(tmp_path):
    """`glmchat ask --tools`: without --yes what needs approval is denied; with --yes everything runs unasked."""
    no = headless_approval(False)
    s, engine = session(tmp_path, [WRITE, DONE], approver=no.approver, policy=no.policy)
    events = list(s.send("write hello"))
    assert [e.decision for e in events if isinstance(e, ToolResultEvent)] == ["deny"] and not (tmp_path / "out.txt").exists()
    assert engine.requests[1].messages[-1]["content"] == NO_APPROVER.denial_text("write_file")
    yes = headless_approval(True)
    s, _ = session(tmp_path, [WRITE, DONE], approver=yes.approver, policy=yes.policy)
    events = list(s.send("write hello"))
    assert [e.decision for e in events if isinstance(e, ToolResultEvent)] == ["auto"]
    assert (tmp_path / "out.txt").read_text() == "hello\n"
