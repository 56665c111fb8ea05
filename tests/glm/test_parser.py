"""GlmStreamParser: the GLM-4.7 raw-output rules, chunking invariance and streaming latency."""

from __future__ import annotations

import json
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glmchat.glm import Answer, GlmStreamParser, IncompleteToolCall, Thinking, ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "opts": {"type": "object"},
                    "metric": {"type": "boolean"},
                    "ratio": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "note": {"type": ["string", "null"]},
                    "mode": {"enum": ["fast", "slow"]},
                    "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                },
            },
        },
    },
    {"name": "write_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}},
    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
]


def merge(events):
    out = []
    for ev in events:
        if out and type(ev) is type(out[-1]) and isinstance(ev, (Thinking, Answer)):
            out[-1] = type(ev)(out[-1].text + ev.text)
        else:
            out.append(ev)
    return out


def run(chunks, tools=TOOLS, thinking=True, merged=True):
    p = GlmStreamParser(tools=tools, thinking=thinking)
    events = []
    for c in chunks:
        events += p.feed(c)
    events += p.finish()
    return merge(events) if merged else events


def parse(text, **kw):
    """Events for `text`, checked to be the same whole and one character at a time."""
    whole = run([text], **kw)
    assert run(list(text), **kw) == whole
    return whole


# ---- thinking / answer -------------------------------------------------------------------------------


def test_thinking_then_answer():
    assert parse("I should greet.</think>Hello!") == [Thinking("I should greet."), Answer("Hello!")]


def test_answer_text_kept_as_is():
    assert parse("r</think>\n\nHello  ") == [Thinking("r"), Answer("\n\nHello  ")]


def test_empty_thinking():
    assert parse("</think>Hi") == [Answer("Hi")]


def test_cut_off_inside_thinking_is_all_thinking():
    assert parse("still thinking about <b> and </thi") == [Thinking("still thinking about <b> and </thi")]


def test_leading_think_tag_dropped():
    assert parse("<think>plan</think>ok") == [Thinking("plan"), Answer("ok")]


def test_think_tag_inside_thinking_is_text_and_after_the_answer_opens_a_further_thought():
    # issue 16 item 7: a <think> after the answer began is a further thought (see test_parser_think_after_answer.py)
    assert parse("a<think>b</think>c<think>d") == [Thinking("a<think>b"), Answer("c"), Thinking("\n\nd")]


def test_thinking_off_everything_is_answer():
    assert parse("Hello <b>world</b>", thinking=False) == [Answer("Hello <b>world</b>")]


def test_thinking_off_leading_close_dropped():
    assert parse("</think>Hello", thinking=False) == [Answer("Hello")]


def test_thinking_off_close_later_is_text():
    assert parse("Hi</think>there", thinking=False) == [Answer("Hi</think>there")]


def test_thinking_off_leading_think_opens_reasoning():
    assert parse("<think>hmm</think>Hi", thinking=False) == [Thinking("hmm"), Answer("Hi")]


def test_thinking_off_partial_tag_at_start_flushed():
    assert parse("</thi", thinking=False) == [Answer("</thi")]
    assert parse("<thin", thinking=True) == [Thinking("<thin")]


def test_empty_output():
    assert parse("") == []
    assert run([""] * 3) == []


# ---- tool calls ----------------------------------------------------------------------------------------


def test_call_after_answer_with_typed_arguments():
    raw = (
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>  New York\n</arg_value>"
        "<arg_key>days</arg_key><arg_value>3</arg_value>"
        '<arg_key>opts</arg_key><arg_value>{"unit": "C", "hours": [1, 2]}</arg_value>'
        "<arg_key>metric</arg_key><arg_value>true</arg_value>"
        "<arg_key>ratio</arg_key><arg_value>0.5</arg_value>"
        '<arg_key>tags</arg_key><arg_value>["a", "b"]</arg_value></tool_call>'
    )
    events = parse("think</think>Let me check.\n" + raw)
    assert events == [
        Thinking("think"),
        Answer("Let me check.\n"),
        ToolCall(
            "get_weather",
            {"city": "  New York\n", "days": 3, "opts": {"unit": "C", "hours": [1, 2]}, "metric": True, "ratio": 0.5, "tags": ["a", "b"]},
            raw,
        ),
    ]


def test_string_values_never_stripped_or_decoded():
    raw = '<tool_call>write_file<arg_key>path</arg_key><arg_value>42</arg_value><arg_key>content</arg_key><arg_value>\n  x = "<y>"\n\n</arg_value></tool_call>'
    [call] = parse("</think>" + raw)
    assert call.arguments == {"path": "42", "content": '\n  x = "<y>"\n\n'}


def test_string_types_by_schema_variants():
    raw = (
        "<tool_call>get_weather<arg_key>note</arg_key><arg_value>null</arg_value>"
        "<arg_key>mode</arg_key><arg_value>123</arg_value>"
        "<arg_key>either</arg_key><arg_value>7</arg_value></tool_call>"
    )
    [call] = parse("</think>" + raw)
    assert call.arguments == {"note": "null", "mode": "123", "either": 7}


def test_bad_json_for_typed_param_falls_back_to_text():
    raw = "<tool_call>get_weather<arg_key>days</arg_key><arg_value>three</arg_value><arg_key>metric</arg_key><arg_value> false </arg_value></tool_call>"
    [call] = parse("</think>" + raw)
    assert call.arguments == {"days": "three", "metric": False}


def test_unknown_tool_and_param_try_json():
    raw = '<tool_call>mystery<arg_key>n</arg_key><arg_value>5</arg_value><arg_key>s</arg_key><arg_value>hello world</arg_value><arg_key>o</arg_key><arg_value>{"a": 1}</arg_value><arg_key>x</arg_key><arg_value>NaN</arg_value></tool_call>'
    [call] = parse("</think>" + raw)
    assert call == ToolCall("mystery", {"n": 5, "s": "hello world", "o": {"a": 1}, "x": "NaN"}, raw)
    [call2] = parse("</think><tool_call>get_weather<arg_key>extra</arg_key><arg_value>[1]</arg_value></tool_call>")
    assert call2.arguments == {"extra": [1]}


def test_parser_without_tools():
    [call] = parse("</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>12</arg_value></tool_call>", tools=None)
    assert call.arguments == {"city": 12}


def test_call_without_arguments():
    assert parse("</think><tool_call>now</tool_call>") == [ToolCall("now", {}, "<tool_call>now</tool_call>")]


def test_calls_back_to_back_and_whitespace_between_dropped():
    a = "<tool_call>now</tool_call>"
    b = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"
    events = parse("t</think>Two calls:\n" + a + "\n\n" + b + "\n" + a + " \n")
    assert events == [
        Thinking("t"),
        Answer("Two calls:\n"),
        ToolCall("now", {}, a),
        ToolCall("get_weather", {"city": "Paris"}, b),
        ToolCall("now", {}, a),
    ]


def test_text_after_a_call_is_answer():
    a = "<tool_call>now</tool_call>"
    assert parse("</think>" + a + "\nDone.") == [ToolCall("now", {}, a), Answer("\nDone.")]


def test_whitespace_only_before_first_call_is_emitted():
    a = "<tool_call>now</tool_call>"
    assert parse("x</think>\n" + a) == [Thinking("x"), Answer("\n"), ToolCall("now", {}, a)]


def test_old_style_newline_after_name_and_between_tags():
    raw = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Rome</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"
    [call] = parse("</think>" + raw)
    assert call.name == "get_weather" and call.arguments == {"city": "Rome", "days": 2}
    [call2] = parse("</think><tool_call>now\n</tool_call>")
    assert call2.name == "now" and call2.arguments == {}


def test_cut_off_inside_call_is_incomplete():
    assert parse("</think>Sure.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Ber") == [
        Answer("Sure."),
        IncompleteToolCall("get_weather", "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Ber"),
    ]
    assert parse("</think><tool_call>get_wea") == [IncompleteToolCall(None, "<tool_call>get_wea")]
    assert parse("</think><tool_call>now</tool_ca") == [IncompleteToolCall(None, "<tool_call>now</tool_ca")]


def test_partial_open_tag_at_end_is_answer_text():
    assert parse("</think>Hi <tool_ca") == [Answer("Hi <tool_ca")]


def test_whitespace_after_last_call_not_emitted_at_finish():
    a = "<tool_call>now</tool_call>"
    assert parse("</think>" + a + "\n \n") == [ToolCall("now", {}, a)]
    assert parse("</think>" + a + "\n<tool_") == [ToolCall("now", {}, a), Answer("\n<tool_")]


def test_malformed_call_is_incomplete():
    bad = "<tool_call>get_weather<arg_key>city</arg_key>Paris</tool_call>"
    assert parse("</think>" + bad + "ok") == [IncompleteToolCall("get_weather", bad), Answer("ok")]
    noname = "<tool_call><arg_key>a</arg_key><arg_value>1</arg_value></tool_call>"
    assert parse("</think>" + noname) == [IncompleteToolCall(None, noname)]
    spaced = "<tool_call>two words</tool_call>"
    assert parse("</think>" + spaced) == [IncompleteToolCall(None, spaced)]


def test_tags_inside_a_string_value_stay_in_the_value():
    content = "a</arg_value> not the end\n<tool_call>x</tool_call>\n</think>"
    raw = f"<tool_call>write_file<arg_key>path</arg_key><arg_value>t.md</arg_value><arg_key>content</arg_key><arg_value>{content}</arg_value></tool_call>"
    [call] = parse("</think>" + raw)
    assert call.arguments == {"path": "t.md", "content": content}
    assert call.raw == raw


def test_thinking_text_may_mention_tool_call():
    a = "<tool_call>now</tool_call>"
    assert parse("use <tool_call>now</tool_call>?</think>" + a) == [Thinking("use <tool_call>now</tool_call>?"), ToolCall("now", {}, a)]


def test_duplicate_key_last_wins():
    [call] = parse("</think><tool_call>get_weather<arg_key>days</arg_key><arg_value>1</arg_value><arg_key>days</arg_key><arg_value>2</arg_value></tool_call>")
    assert call.arguments == {"days": 2}


# ---- streaming ----------------------------------------------------------------------------------------


def test_streaming_latency_thinking():
    p = GlmStreamParser(thinking=True)
    assert p.feed("abc") == [Thinking("abc")]
    assert p.feed(" x<") == [Thinking(" x")]  # "<" could start </think>
    assert p.feed("b") == [Thinking("<b")]
    assert p.feed("</th") == []
    assert p.feed("ink>Hi") == [Answer("Hi")]
    assert p.feed(" <t") == [Answer(" ")]
    assert p.feed("able>") == [Answer("<table>")]
    assert p.finish() == []


def test_streaming_latency_answer_only_and_at_start():
    p = GlmStreamParser(thinking=False)
    assert p.feed("<") == []  # could be </think> or <think> or <tool_call>
    assert p.feed("p>x") == [Answer("<p>x")]
    p2 = GlmStreamParser(thinking=True)
    assert p2.feed("<th") == []  # could be a leading <think>
    assert p2.feed("e") == [Thinking("<the")]


def test_tool_call_emitted_when_closed_and_merging_within_feed():
    p = GlmStreamParser(tools=TOOLS)
    assert p.feed("a") == [Thinking("a")]
    assert p.feed("bc</think>de<tool_call>now") == [Thinking("bc"), Answer("de")]
    assert p.feed("</tool_call>\n") == [ToolCall("now", {}, "<tool_call>now</tool_call>")]
    assert p.feed("\n") == []
    assert p.feed("ok") == [Answer("\n\nok")]
    p2 = GlmStreamParser()
    assert p2.feed("x<y</think>a<b") == [Thinking("x<y"), Answer("a<b")]


def test_unmerged_events_join_to_the_same_text():
    text = "plan <b>bold</b> </th>?</think>Answer with <i>tags</i> and <tool_"
    events = run(list(text), merged=False)
    assert "".join(e.text for e in events if isinstance(e, Thinking)) == "plan <b>bold</b> </th>?"
    assert "".join(e.text for e in events if isinstance(e, Answer)) == "Answer with <i>tags</i> and <tool_"


def test_large_call_and_thinking_fed_in_small_chunks_is_linear():
    content = "line <with> tags & stuff\n" * 16000  # 400 kB argument
    raw = f"<tool_call>write_file<arg_key>path</arg_key><arg_value>big.txt</arg_value><arg_key>content</arg_key><arg_value>{content}</arg_value></tool_call>"
    text = ("thinking < > " * 30000) + "</think>" + raw
    chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
    t0 = time.process_time()
    events = run(chunks)
    elapsed = time.process_time() - t0
    assert events[-1].arguments["content"] == content
    assert elapsed < 3.0, f"{len(text) / 1e6:.2f} MB took {elapsed:.2f} s of CPU"


# ---- properties: every chunking gives the same events ----------------------------------------------------

PLAIN = st.text(alphabet="ab <>/\n_é", max_size=25)
TAGGY = st.lists(
    st.sampled_from(["a", " ", "\n", "<", ">", "/", "<think>", "</think>", "<tool_call>", "</tool_call>", "now", "get_weather",
                     "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>", "days", "3", "city", "</thi", "<tool_"]),
    max_size=30,
).map("".join)


def _chunkings(text, cuts):
    yield [text]
    yield list(text)
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    yield [text[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def generations(draw):
    thinking = draw(PLAIN)
    answer = draw(PLAIN)
    calls, raws = [], []
    for _ in range(draw(st.integers(0, 3))):
        which = draw(st.sampled_from(["now", "get_weather", "write_file"]))
        args: dict = {}
        if which == "get_weather":
            if draw(st.booleans()):
                args["city"] = draw(PLAIN)
            if draw(st.booleans()):
                args["days"] = draw(st.integers(-1000, 10**6))
            if draw(st.booleans()):
                args["opts"] = draw(st.dictionaries(st.sampled_from(["u", "v"]), st.one_of(st.integers(0, 9), st.text("xy <", max_size=3)), max_size=2))
            if draw(st.booleans()):
                args["metric"] = draw(st.booleans())
        elif which == "write_file":
            args = {"path": draw(PLAIN), "content": draw(PLAIN)}
        body = which + ("\n" if draw(st.booleans()) and args else "")
        for k, v in args.items():
            value = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            body += f"<arg_key>{k}</arg_key><arg_value>{value}</arg_value>"
        raw = f"<tool_call>{body}</tool_call>"
        calls.append(ToolCall(which, args, raw))
        raws.append(raw)
    seps = [draw(st.sampled_from(["", "\n", "\n\n", " "])) for _ in raws]
    text = thinking + "</think>" + answer + "".join(s + r for s, r in zip(seps, raws))
    if raws:
        text += draw(st.sampled_from(["", "\n", " \n"]))  # whitespace after the last call is dropped
    shown = answer + (seps[0] if seps else "")  # text before the first call goes out as-is
    expected = ([Thinking(thinking)] if thinking else []) + ([Answer(shown)] if shown else []) + calls
    return text, expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen=generations(), cuts=st.lists(st.integers(0, 10**6), max_size=8))
def test_property_generations_parse_the_same_under_any_chunking(gen, cuts):
    text, expected = gen
    for chunks in _chunkings(text, cuts):
        assert run(chunks) == merge(expected)


@settings(max_examples=300, deadline=None)
@given(gen=generations(), cut=st.integers(0, 10**6), cuts=st.lists(st.integers(0, 10**6), max_size=8), thinking=st.booleans())
def test_property_cut_off_outputs_same_under_any_chunking(gen, cut, cuts, thinking):
    text = gen[0][: cut % (len(gen[0]) + 1)]
    results = [run(chunks, thinking=thinking) for chunks in _chunkings(text, cuts)]
    assert results[1] == results[0] and results[2] == results[0]
    if thinking and "</think>" not in text:
        assert results[0] == ([Thinking(text)] if text else [])


@settings(max_examples=400, deadline=None)
@given(text=TAGGY, cuts=st.lists(st.integers(0, 10**6), max_size=10), thinking=st.booleans())
def test_property_tag_soup_same_under_any_chunking(text, cuts, thinking):
    results = [run(chunks, thinking=thinking) for chunks in _chunkings(text, cuts)]
    assert results[1] == results[0] and results[2] == results[0]
    for ev in results[0]:
        if isinstance(ev, (Thinking, Answer)):
            assert ev.text
        if isinstance(ev, ToolCall):
            assert ev.raw.startswith("<tool_call>") and ev.raw.endswith("</tool_call>")


@pytest.mark.parametrize("seed", range(5))
def test_random_chunk_sizes_on_a_long_output(seed):
    rng = random.Random(seed)
    call = '<tool_call>get_weather<arg_key>city</arg_key><arg_value> Oslo </arg_value><arg_key>opts</arg_key><arg_value>{"a": [1]}</arg_value></tool_call>'
    text = "Reason < carefully > about </b> it. " * 50 + "</think>" + "## Answer\n\n`a < b`\n" * 30 + call + "\n" + call
    chunks, i = [], 0
    while i < len(text):
        n = rng.randint(1, 12)
        chunks.append(text[i : i + n])
        i += n
    assert run(chunks) == run([text])
    assert run([text])[-1] == ToolCall("get_weather", {"city": " Oslo ", "opts": {"a": [1]}}, call)
