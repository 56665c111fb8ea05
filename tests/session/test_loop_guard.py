"""The loop guard (glmchat.loop_guard): repeated tool calls, repeating thoughts and answers."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from glmchat.engine.base import AnswerText, Finished, ReasoningText, Started, Usage
from glmchat.engine.scripted import ScriptedEngine
from glmchat.glm import ToolCall
from glmchat.loop_guard import (
    ANSWER_STOP,
    REPEATED_CALL_STOP,
    THOUGHT_CLOSED,
    THOUGHT_STOP,
    RepetitionDetector,
    TurnGuard,
    call_key,
    find_repeat,
)
from glmchat.session import ChatSession, Notice, ToolResultEvent, TurnFinished
from glmchat.settings import load_settings
from glmchat.store import Store
from glmchat.tools import ToolRegistry, Workspace

CALL = "Read it.</think><tool_call>read_file<arg_key>path</arg_key><arg_value>notes.txt</arg_value></tool_call>"
SENTENCE = "Wait, I should check the file once more. "
LOOPING_THOUGHT = SENTENCE * 200 + "</think>never reached"
LOOPING_ANSWER = "</think>Here is the plan.\n\n" + "- read the notes again and summarise them\n" * 200


def make(tmp_path, scripts, *, guard=True, engine=None, store=None, tools=False, max_rounds=20, max_tokens=None):
    settings = load_settings()
    settings.chat.loop_guard = guard
    settings.tools.max_rounds = max_rounds
    engine = engine or ScriptedEngine(scripts)
    registry = ToolRegistry.builtin() if tools else None
    s = ChatSession(
        engine, settings, store=store, tools=registry, tools_enabled=tools, workspace=Workspace(tmp_path), max_tokens=max_tokens
    )
    return s, engine


def counting(registry):
    runs = []
    execute = registry.execute

    def counted(name, arguments, ctx):
        runs.append((name, arguments))
        return execute(name, arguments, ctx)

    registry.execute = counted
    return runs


# ---- (a) the same tool call again and again ------------------------------------------------------


def test_a_call_repeated_forever_runs_twice_and_the_turn_ends_at_the_fifth_request(tmp_path):
    (tmp_path / "notes.txt").write_text("hi\n")
    store = Store(tmp_path / "c.db")
    s, engine = make(tmp_path, [CALL], tools=True, store=store)
    runs = counting(s.tools)
    events = list(s.send("read notes"))
    assert len(runs) == 2
    assert engine.calls == 5
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [r.decision for r in results] == ["auto", "auto", "repeated", "repeated", "repeated"]
    assert "hi" in engine.requests[2].messages[-1]["content"]  # the second call ran
    assert "Not run" in engine.requests[3].messages[-1]["content"]  # the third did not: the model is told, so it can change course
    assert "Not run" in results[-1].output and "stopped" in results[-1].output
    assert [e.text for e in events if isinstance(e, Notice)] == [REPEATED_CALL_STOP]
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "stopped" and fin.rounds == 5
    tool_rows = [m for m in store.messages(s.conversation_id) if m.role == "tool"]
    assert tool_rows[-1].meta.get("stop_reason") == "repeated tool call"
    assert all(m.get("role") != "tool" or m.get("tool_call_id") for m in s.messages)  # every call answered


def test_with_the_guard_off_the_same_call_runs_until_max_rounds(tmp_path):
    (tmp_path / "notes.txt").write_text("hi\n")
    s, engine = make(tmp_path, [CALL], tools=True, guard=False, max_rounds=6)
    runs = counting(s.tools)
    events = list(s.send("read notes"))
    assert len(runs) == 6 and engine.calls == 6
    assert REPEATED_CALL_STOP not in [e.text for e in events if isinstance(e, Notice)]


def test_the_same_call_means_the_same_name_and_the_same_arguments_in_any_key_order():
    assert call_key(ToolCall("f", {"a": 1, "b": [1, 2]}, "")) == call_key(ToolCall("f", {"b": [1, 2], "a": 1}, ""))
    assert call_key(ToolCall("f", {"a": 1}, "")) != call_key(ToolCall("f", {"a": 2}, ""))
    assert call_key(ToolCall("f", {"a": 1}, "")) != call_key(ToolCall("g", {"a": 1}, ""))
    guard = TurnGuard(True)
    verdicts = [guard.call_verdict(ToolCall("f", {"a": i % 2}, "")) for i in range(8)]
    assert verdicts == ["run", "run", "run", "run", "refuse", "refuse", "refuse", "refuse"]


# ---- (b) repeating text ------------------------------------------------------------------------------


def test_a_repeating_thought_is_closed_and_the_model_answers(tmp_path):
    store = Store(tmp_path / "c.db")
    s, engine = make(tmp_path, [LOOPING_THOUGHT, "The answer is 42."], store=store)
    events = list(s.send("think"))
    assert engine.calls == 2
    prefix = engine.requests[1].assistant_prefix
    assert prefix is not None and prefix.endswith("</think>") and prefix.startswith(SENTENCE)
    assert prefix.count(SENTENCE) <= 3  # the loop itself is not handed back to the model
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "complete" and fin.answer == "The answer is 42."
    assert THOUGHT_CLOSED in [e.text for e in events if isinstance(e, Notice)]
    assert sum(1 for e in events if type(e).__name__ == "TurnStarted") == 1  # one message, continued
    row = [m for m in store.messages(s.conversation_id) if m.role == "assistant"][-1]
    assert row.content == "The answer is 42." and row.reasoning.startswith(SENTENCE) and row.status == "complete"
    assert row.meta.get("thought_closed") == "repeating"


class NoPrefixEngine(ScriptedEngine):
    continues_prefix = False  # like the remote engine: a prompt cannot be continued


def test_without_continuation_a_repeating_thought_stops_the_turn(tmp_path):
    s, engine = make(tmp_path, [], engine=NoPrefixEngine([LOOPING_THOUGHT, "never"]))
    events = list(s.send("think"))
    assert engine.calls == 1
    assert [e.text for e in events if isinstance(e, Notice)] == [THOUGHT_STOP]
    assert events[-1].status == "stopped"


def test_a_thought_is_closed_once_per_turn(tmp_path):
    loop_then_call = LOOPING_THOUGHT
    s, engine = make(tmp_path, [loop_then_call, CALL.split("</think>")[1], LOOPING_THOUGHT, "x"], tools=True)
    (tmp_path / "notes.txt").write_text("hi\n")
    events = list(s.send("go"))
    assert engine.calls == 3  # closed, continued with a call; the next round loops again: stopped
    assert [e.text for e in events if isinstance(e, Notice)][-1] == THOUGHT_STOP
    assert events[-1].status == "stopped"


def test_a_repeating_answer_stops_with_the_notice_and_the_stored_reason(tmp_path):
    store = Store(tmp_path / "c.db")
    s, _ = make(tmp_path, [LOOPING_ANSWER], store=store)
    events = list(s.send("plan"))
    assert [e.text for e in events if isinstance(e, Notice)] == [ANSWER_STOP]
    fin = events[-1]
    assert fin.status == "stopped" and fin.answer.startswith("Here is the plan.")
    assert len(fin.answer) < 1500  # stopped early, not at the end of the script
    row = [m for m in store.messages(s.conversation_id) if m.role == "assistant"][-1]
    assert row.meta.get("stop_reason") == "repeating answer" and row.status == "cancelled"


def test_with_the_guard_off_a_repeating_answer_runs_to_its_end(tmp_path):
    s, _ = make(tmp_path, [LOOPING_ANSWER], guard=False)
    events = list(s.send("plan"))
    assert events[-1].status == "complete" and events[-1].answer == LOOPING_ANSWER.split("</think>")[1]
    assert not [e for e in events if isinstance(e, Notice)]


# ---- the detector: false positives and cost ------------------------------------------------------------


def feed_all(text, chunk=4):
    d = RepetitionDetector()
    for i in range(0, len(text), chunk):
        hit = d.feed(text[i : i + chunk])
        if hit:
            return hit, i
    return None, None


def realistic_texts():
    root = Path(__file__).resolve().parents[2] / "glmchat"
    code = "".join(p.read_text() for p in sorted(root.rglob("*.py")))  # hundreds of kB of real code
    table = "| # | name | price | stock |\n|---|---|---|---|\n" + "".join(
        f"| {i} | item-{i} | {i * 1.25:.2f} | {'yes' if i % 3 else 'no'} |\n" for i in range(1, 400)
    )
    numbered = "".join(f"{i}. Step {i}: check the result of step {i - 1} and continue.\n" for i in range(1, 300))
    ruled = "".join(f"{'=' * 79}\nSection {i}\n{'-' * 79}\ntext of the section\n" for i in range(20))
    html = "".join(f'<li class="item"><a href="/page/{i}">Page {i}</a></li>\n' for i in range(500))
    return {"code": code, "table": table, "numbered": numbered, "ruled": ruled, "html": html}


def test_realistic_long_answers_are_not_called_loops():
    for name, text in realistic_texts().items():
        assert feed_all(text) == (None, None), name


def test_loops_of_short_and_long_spans_are_caught():
    rng = random.Random(1)
    for period in (1, 7, 31, 150, 420, 999):
        unit = "".join(rng.choice("abcdefghij klmnop") for _ in range(period))
        hit, _ = feed_all("Some text first. " * 3 + "x" + unit * max(40, 900 // period))
        assert hit is not None and hit.period == period, period
    assert find_repeat("abc" * 100) is None  # 300 characters of a short span: not yet
    assert find_repeat("x" + "=" * 700) is None  # a long ruled line is not a loop (a span under 20: 800 needed)
    assert find_repeat("x" + "=" * 900) is not None


def test_the_detector_costs_little_on_a_long_answer_that_does_not_repeat():
    rng = random.Random(0)
    words = ["the", "model", "answer", "file", "value", "return", "def", "class", "import", "self", "x", "y", "42"]
    text = " ".join(rng.choice(words) + ("\n" if rng.random() < 0.1 else "") for _ in range(60_000))[:200_000]
    assert len(text) == 200_000
    d = RepetitionDetector()
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]  # about one token a piece
    t0 = time.perf_counter()
    hits = [h for h in map(d.feed, pieces) if h]
    elapsed = time.perf_counter() - t0
    assert not hits
    assert elapsed < 0.2, f"{elapsed * 1000:.1f} ms for 200,000 characters"  # measured ~25 ms here


# ---- (c) a further thought from a server that splits reasoning off -----------------------------------


class SplittingServer(ScriptedEngine):
    """Like a remote server with a reasoning parser: reasoning apart, the content as it comes."""

    def stream(self, request, cancel=None):
        self.requests.append(request)
        yield Started(prompt_tokens=5, in_thinking=False)
        yield ReasoningText("reason")
        for piece in ["Answer <th", "ink>again</th", "ink> more"]:
            yield AnswerText(piece)
        yield Finished(Usage(prompt_tokens=5, completion_tokens=9))


def test_a_think_block_in_a_servers_content_becomes_a_further_thought(tmp_path):
    store = Store(tmp_path / "c.db")
    s, _ = make(tmp_path, [], engine=SplittingServer(), store=store)
    fin = list(s.send("hi"))[-1]
    assert fin.thinking == "reason\n\nagain" and fin.answer == "Answer  more"
    row = [m for m in store.messages(s.conversation_id) if m.role == "assistant"][-1]
    assert row.reasoning == "reason\n\nagain" and row.content == "Answer  more"


# ---- the local engine: the thought is closed in the prompt itself ------------------------------------


@pytest.mark.slow
def test_local_engine_a_looping_thought_is_closed_and_continued(tiny_glm_path, tmp_path, monkeypatch):
    from glmchat.engine.local import LocalEngine
    from tests.fixtures.tiny_glm import gbnf_literal

    monkeypatch.setenv("GLMCHAT_DATA_DIR", str(tmp_path))
    engine = LocalEngine.load(tiny_glm_path, n_ctx=2048, n_threads=1, verbose=False)
    prompts = []
    render = engine.render
    engine.render = lambda request: prompts.append(render(request)) or prompts[-1]
    try:
        s, _ = make(tmp_path, [], engine=engine, max_tokens=600)
        # the grammar never ends: the thought loops, and after it is closed the answer loops too
        grammar = "root ::= " + gbnf_literal("Wait, I check the file again. ") + " root"
        events = list(s.send("go", grammar=grammar))
    finally:
        engine.close()
    generated = [p for p in prompts if p.endswith("</think>")]
    assert generated and "Wait, I check the file again." in generated[-1]  # the continuation's prompt
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices == [ANSWER_STOP]  # the thought was closed without a stop; then the answer looped
    fin = events[-1]
    assert fin.status == "stopped" and fin.thinking.startswith("Wait, I check") and fin.answer.startswith("Wait, I check")


# ---- the remote engine ----------------------------------------------------------------------------------


def remote_turn(tmp_path, chunks):
    from glmchat.engine.remote import RemoteEngine
    from tests.scripted_sse import SSE, ScriptedServer

    with ScriptedServer() as srv:
        srv.reply(SSE(chunks))
        engine = RemoteEngine(srv.base_url)
        try:
            s, _ = make(tmp_path, [], engine=engine)
            return list(s.send("hi"))
        finally:
            engine.close()


def test_remote_a_think_block_in_the_content_is_a_further_thought_whether_split_or_raw(tmp_path):
    from tests.scripted_sse import vllm_chunks

    split_off = vllm_chunks(reasoning=["reason"], content=["Answer <th", "ink>again</th", "ink> more"])
    raw = vllm_chunks(content=["reason</think>Answer <th", "ink>again</think> more"])
    for chunks in (split_off, raw):
        fin = remote_turn(tmp_path, chunks)[-1]
        assert (fin.thinking, fin.answer) == ("reason\n\nagain", "Answer  more")


def test_remote_a_looping_thought_stops_the_turn(tmp_path):
    from tests.scripted_sse import vllm_chunks

    events = remote_turn(tmp_path, vllm_chunks(reasoning=[SENTENCE] * 100, content=["never"]))
    assert [e.text for e in events if isinstance(e, Notice)] == [THOUGHT_STOP] and events[-1].status == "stopped"


def test_history_shows_why_the_answer_was_stopped(tmp_path):
    store = Store(tmp_path / "c.db")
    s, _ = make(tmp_path, [LOOPING_ANSWER], store=store)
    list(s.send("plan"))
    row = [m for m in store.messages(s.conversation_id) if m.role == "assistant"][-1]
    assert row.shown_status == "stopped: repeating answer"
