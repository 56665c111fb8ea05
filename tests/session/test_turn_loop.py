"""The session turn loop with a scripted engine: events, thinking modes, history, cancel, errors, context."""

from __future__ import annotations

from glmchat.engine.base import CancelToken
from glmchat.engine.scripted import ScriptedEngine
from glmchat.glm import Answer, Thinking, ToolCall, render_prompt
from glmchat.session import ChatSession, Notice, TurnFailed, TurnFinished, TurnStarted, thinking_flags
from glmchat.settings import load_settings
from tests.fixtures import GLM47_TEMPLATE as TEMPLATE


def run(session: ChatSession, text: str, cancel: CancelToken | None = None) -> list:
    return list(session.send(text, cancel))


def kinds(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_thinking_and_answer_are_separated():
    engine = ScriptedEngine(["I should greet.</think>Hello **there**!"])
    s = ChatSession(engine, load_settings())
    events = run(s, "hi")
    assert isinstance(events[0], TurnStarted)
    thinking = "".join(e.text for e in events if isinstance(e, Thinking))
    answer = "".join(e.text for e in events if isinstance(e, Answer))
    assert thinking == "I should greet." and answer == "Hello **there**!"
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "complete"
    assert fin.answer == answer and fin.thinking == thinking
    assert s.messages[-1] == {"role": "assistant", "content": answer, "reasoning_content": thinking}


def test_thinking_modes_reach_the_request_and_the_template():
    assert thinking_flags("on") == (True, True)
    assert thinking_flags("off") == (False, True)
    assert thinking_flags("preserve") == (True, False)
    engine = ScriptedEngine(["r1</think>a1", "r2</think>a2"])
    s = ChatSession(engine, load_settings(), thinking="preserve")
    run(s, "q1")
    run(s, "q2")
    req = engine.requests[-1]
    assert req.enable_thinking and not req.clear_thinking
    prompt = render_prompt(TEMPLATE, req.messages, enable_thinking=req.enable_thinking, clear_thinking=req.clear_thinking)
    assert "<|assistant|><think>r1</think>a1" in prompt  # preserved thinking keeps past reasoning
    s.set_thinking("on")
    run(s, "q3")
    req = engine.requests[-1]
    prompt = render_prompt(TEMPLATE, req.messages, enable_thinking=req.enable_thinking, clear_thinking=req.clear_thinking)
    assert "<think>r1" not in prompt and "<|assistant|></think>a1" in prompt
    s.set_thinking("off")
    events = run(s, "q4")
    assert not any(isinstance(e, Thinking) for e in events)
    assert engine.requests[-1].enable_thinking is False


def test_profiles_and_tool_profile():
    settings = load_settings()
    s = ChatSession(ScriptedEngine(), settings)
    assert s.profile == "general" and s.sampling().temperature == 1.0
    s.tools_enabled = True
    assert s.profile == "tool" and s.sampling().temperature == 0.7  # tools on → tool profile
    s.set_profile("general")
    assert s.profile == "general"  # an explicit choice wins
    s2 = ChatSession(ScriptedEngine(), settings, max_tokens=5, seed=3)
    assert s2.sampling().max_tokens == 5 and s2.sampling().seed == 3


def test_system_prompt_goes_first():
    engine = ScriptedEngine()
    s = ChatSession(engine, load_settings(), system_prompt="Be terse.")
    run(s, "hi")
    assert engine.requests[0].messages[0] == {"role": "system", "content": "Be terse."}


def test_cancel_keeps_the_partial_answer():
    engine = ScriptedEngine(["</think>" + "word " * 200], chunk_chars=5)
    s = ChatSession(engine, load_settings(), thinking="on")
    cancel = CancelToken()
    events = []
    for ev in s.send("go", cancel):
        events.append(ev)
        if isinstance(ev, Answer) and sum(len(e.text) for e in events if isinstance(e, Answer)) > 20:
            cancel.cancel()
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "cancelled"
    assert 20 < len(fin.answer) < 1000
    assert s.messages[-1]["content"] == fin.answer
    # the session stays usable
    engine.scripts = ["</think>again"]
    assert run(s, "more")[-1].answer == "again"


def test_engine_error_is_reported_and_partial_kept():
    engine = ScriptedEngine(["think</think>partial answer that breaks"], chunk_chars=3, fail_after=6)
    s = ChatSession(engine, load_settings())
    events = run(s, "hi")
    assert isinstance(events[-1], TurnFailed) and "failed" in events[-1].message
    assert s.messages[-1]["role"] == "assistant"


def test_retry_and_edit_replace_the_last_exchange():
    engine = ScriptedEngine(["</think>one", "</think>two", "</think>three"])
    s = ChatSession(engine, load_settings())
    run(s, "first")
    list(s.retry())
    assert [m["content"] for m in s.messages] == ["first", "two"]
    list(s.edit_last("changed"))
    assert [m["content"] for m in s.messages] == ["changed", "three"]


def test_full_context_leaves_out_oldest_turns_with_a_notice():
    engine = ScriptedEngine(["</think>" + "x" * 400], n_ctx=1024)
    s = ChatSession(engine, load_settings(), system_prompt="SYS")
    for i in range(6):
        events = run(s, f"question {i} " + "y" * 300)
    assert any(isinstance(e, Notice) and "left out" in e.text for e in events)
    req = engine.requests[-1]
    assert req.messages[0]["content"] == "SYS"  # never the system prompt
    assert req.messages[-1]["content"].startswith("question 5")
    assert engine.count_tokens(req) <= 1024
    assert len(s.messages) == 12  # everything is still kept


def test_a_message_too_long_for_the_context_fails_cleanly():
    s = ChatSession(ScriptedEngine(n_ctx=300), load_settings())
    events = run(s, "z" * 5000)
    assert isinstance(events[-1], TurnFailed) and "too long" in events[-1].message


def test_tool_calls_without_tools_enabled_are_shown_not_run():
    engine = ScriptedEngine(["plan</think>Let me look.<tool_call>read_file<arg_key>path</arg_key><arg_value>a.txt</arg_value></tool_call>"])
    s = ChatSession(engine, load_settings())
    events = run(s, "read it")
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls and calls[0].arguments == {"path": "a.txt"}
    assert events[-1].tool_calls == [{"name": "read_file", "arguments": {"path": "a.txt"}}]


def test_stored_messages_come_back_in_template_form():
    from glmchat.store.models import Message

    m = Message(id=1, conversation_id=1, seq=1, role="assistant", content="ok", reasoning="why",
                tool_calls=[{"id": "c1", "name": "f", "arguments": {"n": 1}}])
    chat = m.to_chat()
    assert chat["reasoning_content"] == "why"
    assert chat["tool_calls"][0]["function"] == {"name": "f", "arguments": {"n": 1}}


# ---- with the real store ---------------------------------------------------------------------------


def make_store(tmp_path):
    from glmchat.store import Store

    return Store(tmp_path / "c.db")


def test_turns_are_stored_with_reasoning_title_and_usage(tmp_path):
    store = make_store(tmp_path)
    engine = ScriptedEngine(["I think.</think>The answer."])
    s = ChatSession(engine, load_settings(), store=store, thinking="preserve")
    run(s, "What is the meaning of all this, explained in a long question that goes on and on?")
    conv = store.get_conversation(s.conversation_id)
    assert conv.title.startswith("What is the meaning") and len(conv.title) <= 62
    assert conv.thinking_mode == "preserve" and conv.model == "scripted"
    msgs = store.messages(conv.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    a = msgs[1]
    assert a.content == "The answer." and a.reasoning == "I think." and a.status == "complete"
    assert a.usage["completion_tokens"] > 0


def test_auto_title_comes_from_the_typed_text_not_the_attachments(tmp_path):
    """An attached file's name and contents stay out of the title; the typed text's first line titles it."""
    store = make_store(tmp_path)
    engine = ScriptedEngine(["</think>3.12", "</think>A readme."])
    s = ChatSession(engine, load_settings(), store=store)
    s.attach("README.md", "# glmchat\nA TUI.\n")
    run(s, "What Python version does this need?\nI have 3.11 installed.")
    conv = store.get_conversation(s.conversation_id)
    assert conv.title == "What Python version does this need?"
    assert "README.md" in store.messages(conv.id)[0].content  # the file still goes to the model and the store
    s2 = ChatSession(engine, load_settings(), store=store)
    s2.attach("README.md", "# glmchat\nA TUI.\n")
    run(s2, "")  # attachments only: the first one's label titles it
    assert store.get_conversation(s2.conversation_id).title == "README.md"


def test_reopened_conversation_rebuilds_the_same_prompt(tmp_path):
    store = make_store(tmp_path)
    engine = ScriptedEngine(["r1</think>a1", "r2</think>a2", "r3</think>a3"])
    s = ChatSession(engine, load_settings(), store=store, system_prompt="SYS")
    run(s, "q1")
    run(s, "q2")
    before = s.build_request().messages
    s2 = ChatSession(engine, load_settings(), store=store, conversation_id=s.conversation_id)
    assert s2.system_prompt == "SYS"
    assert s2.build_request().messages == before
    run(s2, "q3")
    assert [m.content for m in store.messages(s.conversation_id)] == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_cancel_error_retry_and_edit_are_stored(tmp_path):
    store = make_store(tmp_path)
    engine = ScriptedEngine(["</think>" + "w " * 300, "</think>broken " * 10, "</think>fine", "</think>edited"], chunk_chars=2)
    s = ChatSession(engine, load_settings(), store=store)
    cancel = CancelToken()
    for ev in s.send("long", cancel):
        if isinstance(ev, Answer):
            cancel.cancel()
    assert store.messages(s.conversation_id)[-1].status == "cancelled"
    engine.fail_after = 5
    run(s, "break")
    last = store.messages(s.conversation_id)[-1]
    assert last.status == "error" and last.content and "error" in last.meta
    engine.fail_after = None
    list(s.retry())
    msgs = store.messages(s.conversation_id)
    assert [m.content for m in msgs][-2:] == ["break", "fine"] and msgs[-1].status == "complete"
    list(s.edit_last("break it differently"))
    assert [m.content for m in store.messages(s.conversation_id)][-2:] == ["break it differently", "edited"]


def test_model_written_title_when_enabled(tmp_path):
    store = make_store(tmp_path)
    settings = load_settings()
    engine = ScriptedEngine(["</think>Paris is the capital.", "</think>Capital of France"])
    s = ChatSession(engine, settings, store=store)
    run(s, "what is the capital of france")
    assert not s.wants_model_title()  # off by default
    settings.chat.model_titles = True
    assert s.wants_model_title()
    assert s.generate_title() == "Capital of France"
    assert store.get_conversation(s.conversation_id).title == "Capital of France"
    assert engine.requests[-1].enable_thinking is False and engine.requests[-1].sampling.max_tokens == 24


def test_every_event_is_a_session_event():
    from typing import get_args

    from glmchat.glm import IncompleteToolCall
    from glmchat.session import SessionEvent, ToolResultEvent
    from glmchat.session_events import PromptProgressed

    assert set(get_args(SessionEvent)) == {
        TurnStarted, PromptProgressed, Thinking, Answer, ToolCall, IncompleteToolCall, ToolResultEvent, Notice, TurnFinished, TurnFailed,
    }
    engine = ScriptedEngine(["plan</think>Look.<tool_call>read_file<arg_key>path</arg_key><arg_value>a</arg_value></tool_call>"
                             "<tool_call>broken"] + ["</think>" + "x" * 400] * 6, n_ctx=1024)
    s = ChatSession(engine, load_settings())
    events = [e for q in ["one"] + [f"q{i} " + "y" * 300 for i in range(6)] + ["z" * 5000] for e in run(s, q)]
    assert {type(e) for e in events} >= {TurnStarted, Thinking, Answer, ToolCall, IncompleteToolCall, Notice, TurnFinished, TurnFailed}
    assert all(isinstance(e, get_args(SessionEvent)) for e in events)


def test_compaction_is_stored_and_a_reopened_conversation_reads_it_back(tmp_path):
    store = make_store(tmp_path)
    engine = ScriptedEngine(["</think>a1", "</think>a2", "</think>a3", "</think>The user asked three things."])
    s = ChatSession(engine, load_settings(), store=store)
    for q in ("q1", "q2", "q3"):
        run(s, q)
    events = list(s.compact())
    assert isinstance(events[-1], Notice) and events[-1].text.startswith("Compacted 4 messages")
    assert "USER: q1\n\nASSISTANT: a1" in engine.requests[-1].messages[-1]["content"]
    assert s.messages[:2] == [
        {"role": "user", "content": "Summary of the earlier conversation:\n\nThe user asked three things."},
        {"role": "assistant", "content": "Understood."},
    ]
    assert [m["content"] for m in s.messages[2:]] == ["q3", "a3"]
    reopened = ChatSession(engine, load_settings(), store=store, conversation_id=s.conversation_id)
    assert reopened.messages == s.messages and reopened.build_request().messages == s.build_request().messages
    assert [m.meta.get("compacted", False) for m in store.messages(s.conversation_id)][:4] == [True] * 4
    assert list(ChatSession(ScriptedEngine(), load_settings()).compact())[0].text == "Nothing to compact yet."
