"""GlmStreamParser(thinking=None): not known whether the prompt opened <think> (a remote server that did
not say). Text is held until the output shows what it was; a model that does not think never has its
answer taken for thinking, and the result does not depend on how the text is cut into chunks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glmchat.glm import Answer, GlmStreamParser, Thinking, ToolCall

TOOLS = [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}]
CALL = "<tool_call>now<arg_key>tz</arg_key><arg_value>UTC</arg_value></tool_call>"


def parse(chunks: list[str]) -> list[object]:
    p = GlmStreamParser(tools=TOOLS, thinking=None)
    out: list[object] = []
    for c in chunks:
        out += p.feed(c)
    out += p.finish()
    merged: list[object] = []
    for ev in out:  # adjacent text of one kind joined, as the UI shows it
        if merged and isinstance(ev, (Thinking, Answer)) and type(ev) is type(merged[-1]):
            merged[-1] = type(ev)(merged[-1].text + ev.text)
        else:
            merged.append(ev)
    return merged


def test_text_before_think_end_was_thinking():
    """The prompt ended in <think> (the thinking started implicitly): what came before </think> is reasoning."""
    assert parse(["The user says hi.", " Greet back.</thi", "nk>Hello!"]) == [Thinking("The user says hi. Greet back."), Answer("Hello!")]


def test_without_think_end_everything_is_answer():
    assert parse(["Hello! ", "I am a small model. 1 < 2 > 0."]) == [Answer("Hello! I am a small model. 1 < 2 > 0.")]


def test_nothing_is_shown_until_the_stream_decides():
    p = GlmStreamParser(thinking=None)
    assert p.feed("Maybe reasoning") == [] and p.feed(", maybe an answer") == []
    assert p.feed("</think>A") == [Thinking("Maybe reasoning, maybe an answer"), Answer("A")]
    assert p.feed("nswer") == [Answer("nswer")]  # decided: the answer streams as it comes


def test_a_think_block_the_model_opens_itself():
    assert parse(["<thi", "nk>weighing</think>", "Yes."]) == [Thinking("weighing"), Answer("Yes.")]


def test_a_tool_call_before_any_think_end_makes_it_answer():
    events = parse(["Checking the clock.", CALL[:20], CALL[20:], " Done."])
    assert events[0] == Answer("Checking the clock.")
    assert isinstance(events[1], ToolCall) and events[1].arguments == {"tz": "UTC"}
    assert events[2:] == [Answer(" Done.")]


def test_reasoning_then_a_tool_call():
    events = parse(["I need the time.</think>", CALL])
    assert events[0] == Thinking("I need the time.") and isinstance(events[1], ToolCall)


def test_a_cut_off_stream_keeps_its_text_as_answer():
    assert parse(["partial reasoning or answer </thi"]) == [Answer("partial reasoning or answer </thi")]
    assert parse(["<thi"]) == [Answer("<thi")]


@settings(max_examples=200, deadline=None)
@given(
    text=st.sampled_from(
        [
            "Reasoning.</think>The answer.",
            "Plain answer with <b>tags</b> and a </thin fragment.",
            "<think>own block</think>answer",
            "</think>answer after an empty block",
            "Think.</think>Call:" + CALL + " after",
            "text" + CALL,
        ]
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=8),
)
def test_chunking_does_not_change_the_result(text, cuts):
    points = sorted({c for c in cuts if c <= len(text)})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]
    assert parse(chunks) == parse([text])
