"""A <think>…</think> after the answer began is a further thought; inside Markdown code it is text.

GLM-4.7-Flash sometimes thinks again after its answer has begun (reported against llama.cpp).
"""

from __future__ import annotations

import itertools

import pytest

from glmchat.glm import Answer, GlmStreamParser, Thinking, ToolCall
from glmchat.glm.code_spans import CodeContext

TEXT = "reason</think>Answer <think>again</think> more"


def run(chunks, thinking=True, calls=True):
    p = GlmStreamParser(thinking=thinking, calls=calls)
    events = []
    for c in chunks:
        events += p.feed(c)
    events += p.finish()
    return events


def split(events):
    """(thinking, answer, tool calls) joined."""
    thinking = "".join(e.text for e in events if isinstance(e, Thinking))
    answer = "".join(e.text for e in events if isinstance(e, Answer))
    return thinking, answer, [e for e in events if isinstance(e, ToolCall)]


def chunkings(text, cuts=2):
    """`text` cut at every choice of up to `cuts` points, and one character at a time."""
    yield [text]
    yield list(text)
    for k in range(1, cuts + 1):
        for points in itertools.combinations(range(1, len(text)), k):
            bounds = (0, *points, len(text))
            yield [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_both_thoughts_go_to_thinking_and_the_answer_has_no_tags_in_every_chunking():
    seen = 0
    for chunks in chunkings(TEXT):
        thinking, answer, _ = split(run(chunks))
        assert (thinking, answer) == ("reason\n\nagain", "Answer  more"), chunks
        seen += 1
    assert seen > 900  # every cut at one and two points


@pytest.mark.parametrize("thinking", [None, False])
def test_the_same_when_the_prompt_state_is_unknown_or_thinking_is_off(thinking):
    for chunks in chunkings(TEXT, cuts=1):
        got = split(run(chunks, thinking=thinking))[:2]
        if thinking is None:  # the </think> shows the prompt had opened the thought
            assert got == ("reason\n\nagain", "Answer  more"), chunks
        else:  # thinking off: "reason</think>" was answer text, the later block a thought of its own
            assert got == ("again", "reason</think>Answer  more"), chunks


def test_a_further_thought_without_an_earlier_one_has_no_leading_blank_line():
    assert split(run(["Hi <think>hmm</think> there"], thinking=False))[:2] == ("hmm", "Hi  there")


@pytest.mark.parametrize(
    "answer",
    [
        "Use `<think>` to open a thought.",
        "Use ``a ` <think> b`` here.",
        "Example:\n\n```xml\n<think>plan</think>\n```\n",
        "Example:\n\n~~~\n\n   ```\n<think>\n   ```\n",
        "````\nfence\n```\n<think>still code: a shorter run does not close it\n````\n",
    ],
)
def test_a_think_tag_inside_a_code_span_or_fence_stays_in_the_answer(answer):
    for chunks in chunkings("r</think>" + answer, cuts=1):
        assert split(run(chunks))[:2] == ("r", answer), chunks


def test_after_a_fence_closes_a_think_tag_is_a_thought_again():
    text = "r</think>```\n`<think>`\n```\nthen <think>t</think>end"
    for chunks in chunkings(text, cuts=1):
        assert split(run(chunks))[:2] == ("r\n\nt", "```\n`<think>`\n```\nthen end"), chunks


def test_a_span_left_open_at_a_blank_line_was_plain_text():
    thinking, answer, _ = split(run(["r</think>a `b\n\n<think>t</think>c"]))
    assert (thinking, answer) == ("r\n\nt", "a `b\n\nc")


def test_a_tool_call_still_works_after_a_further_thought():
    text = "r</think>A<think>t</think><tool_call>f<arg_key>x</arg_key><arg_value>1</arg_value></tool_call>"
    for chunks in chunkings(text, cuts=1):
        thinking, answer, calls = split(run(chunks))
        assert (thinking, answer) == ("r\n\nt", "A") and [(c.name, c.arguments) for c in calls] == [("f", {"x": 1})]


def test_calls_off_leaves_tool_call_text_in_the_answer_but_still_routes_thoughts():
    text = "A <tool_call>x</tool_call> <think>t</think>B"
    assert split(run([text], thinking=False, calls=False)) == ("t", "A <tool_call>x</tool_call> B", [])


def test_an_unclosed_further_thought_is_thinking_at_the_end():
    assert split(run(["r</think>A<think>still"]))[:2] == ("r\n\nstill", "A")


def test_code_context_follows_spans_and_fences_fed_in_pieces():
    cases = [
        ("`a", True),
        ("`a`", False),
        ("``a`b", True),
        ("``a`b``", False),
        ("```py\nx", True),
        ("```py\nx\n```", False),
        ("x ```", True),  # not at a line start: an inline span of three
        ("  ```\ny", True),
        ("`a\n\n", False),
    ]
    for text, inside in cases:
        for chunks in chunkings(text, cuts=1):
            ctx = CodeContext()
            for c in chunks:
                ctx.feed(c)
            assert ctx.in_code() is inside, (text, chunks)
