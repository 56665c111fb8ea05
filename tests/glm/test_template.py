"""render_prompt() against the official GLM-4.7 template and an independent HF-style reference."""

from __future__ import annotations

import json

import pytest

from glmchat.errors import EngineError
from glmchat.glm import GLM_END_TOKENS, prompt_opens_thinking, render_prompt
from tests.template_reference import TEMPLATE, reference

# ---- conversations -------------------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Wetter für eine Stadt — returns <html> & 'quotes' \"too\"",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "城市 < 100 chars"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
WRITE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file (a < b && c > d)",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
    },
}
FLAT_TOOL = {"name": "now", "description": "Current time ⏰", "parameters": {"type": "object", "properties": {}}}

U = {"role": "user", "content": "What is the weather in Beijing?"}
U2 = {"role": "user", "content": "And tomorrow?"}
SYS = {"role": "system", "content": "You are a helpful assistant."}


def A(content, **kw):
    return {"role": "assistant", "content": content, **kw}


def CALL(name, arguments, flat=False):
    return {"name": name, "arguments": arguments} if flat else {"type": "function", "function": {"name": name, "arguments": arguments}}


def TOOL(content):
    return {"role": "tool", "content": content}


CASES = {
    "single_user": ([U], {}),
    "empty_user": ([{"role": "user", "content": ""}], {}),
    "system_then_user": ([SYS, U], {}),
    "two_systems": ([SYS, {"role": "system", "content": "Be brief."}, U], {}),
    "multi_turn": ([U, A("Sunny."), U2], {}),
    "multi_turn_system": ([SYS, U, A("Sunny."), U2, A("Rain."), {"role": "user", "content": "Thanks"}], {}),
    "ends_with_assistant_no_gen": ([U, A("Sunny.")], {"add_generation_prompt": False}),
    "no_generation_prompt": ([U], {"add_generation_prompt": False}),
    "thinking_off": ([U], {"enable_thinking": False}),
    "thinking_off_multi": ([U, A("Sunny."), U2], {"enable_thinking": False}),
    "list_parts_user": ([{"role": "user", "content": [{"type": "text", "text": "Look: "}, {"type": "image"}, {"type": "text", "text": "there"}]}], {}),
    "list_strings_user": ([{"role": "user", "content": ["a", "b", {"type": "text", "text": "c"}]}], {}),
    "list_parts_system": ([{"role": "system", "content": [{"type": "text", "text": "Sys part"}]}, U], {}),
    "list_parts_assistant": ([U, A([{"type": "text", "text": "Part one. "}, {"type": "text", "text": "Part two."}]), U2], {}),
    "reasoning_past_turn_dropped": ([U, A("Sunny.", reasoning_content="Check the forecast."), U2], {}),
    "reasoning_past_turn_preserved": ([U, A("Sunny.", reasoning_content="Check the forecast."), U2], {"clear_thinking": False}),
    "reasoning_current_turn": ([U, A("Sunny.", reasoning_content="  Check it.\n")], {"add_generation_prompt": False}),
    "reasoning_empty_string": ([U, A("Sunny.", reasoning_content=""), U2], {"clear_thinking": False}),
    "think_in_content_past": ([U, A("<think>\nplan\n</think>\n\nSunny."), U2], {}),
    "think_in_content_past_preserved": ([U, A("<think>\nplan\n</think>\n\nSunny."), U2], {"clear_thinking": False}),
    "think_in_content_current": ([U, A("<think>plan</think>Sunny.")], {"add_generation_prompt": False}),
    "close_think_only_in_content": ([U, A("plan only</think>answer"), U2], {"clear_thinking": False}),
    "content_whitespace_stripped": ([U, A("\n\n  Sunny.  \n"), U2], {}),
    "tool_call_string_arg": ([U, A("", tool_calls=[CALL("get_weather", {"city": "Beijing"})])], {"tools": [WEATHER]}),
    "tool_call_nonstring_args": (
        [U, A("Let me check.", tool_calls=[CALL("get_weather", {"city": "Beijing", "days": 3, "opts": {"unit": "°C", "x": [1, None, True]}, "ok": False})])],
        {"tools": [WEATHER]},
    ),
    "tool_call_flat_form": ([U, A("", tool_calls=[CALL("get_weather", {"city": "Paris", "days": 2}, flat=True)])], {"tools": [WEATHER]}),
    "tool_call_no_args": ([U, A("", tool_calls=[CALL("now", {}, flat=True)])], {"tools": [FLAT_TOOL]}),
    "tool_call_multiline_string": (
        [U, A("", tool_calls=[CALL("write_file", {"path": "a.py", "content": "print('<hi>')\n\n"})])],
        {"tools": [WRITE]},
    ),
    "two_tool_calls": (
        [U, A("Checking both.", tool_calls=[CALL("get_weather", {"city": "A"}), CALL("get_weather", {"city": "B"}, flat=True)])],
        {"tools": [WEATHER]},
    ),
    "tool_result": ([U, A("", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL("sunny, 25°C")], {"tools": [WEATHER]}),
    "consecutive_tool_results": (
        [U, A("", tool_calls=[CALL("get_weather", {"city": "A"}), CALL("get_weather", {"city": "B"})]), TOOL("sunny"), TOOL("rain")],
        {"tools": [WEATHER]},
    ),
    "tool_result_list_content": (
        [U, A("", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL([{"output": "sunny"}, "plain <b>"])],
        {"tools": [WEATHER]},
    ),
    "tool_result_then_answer": (
        [U, A("", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL("sunny"), A("It is sunny."), U2],
        {"tools": [WEATHER]},
    ),
    "tool_loop_reasoning_preserved": (
        [U, A("", reasoning_content="Need weather.", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL("sunny"),
         A("It is sunny.", reasoning_content="Got it.")],
        {"tools": [WEATHER], "clear_thinking": False, "add_generation_prompt": False},
    ),
    "tool_loop_reasoning_current_turn": (
        [U, A("", reasoning_content="Need weather.", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL("sunny")],
        {"tools": [WEATHER]},
    ),
    "tool_loop_reasoning_old_turn_cleared": (
        [U, A("", reasoning_content="Need weather.", tool_calls=[CALL("get_weather", {"city": "A"})]), TOOL("sunny"),
         A("Sunny.", reasoning_content="Done."), U2],
        {"tools": [WEATHER]},
    ),
    "tools_no_messages_history": ([U], {"tools": [WEATHER, WRITE, FLAT_TOOL]}),
    "tools_with_system": ([SYS, U], {"tools": [WEATHER]}),
    "tools_thinking_off": ([U], {"tools": [WEATHER], "enable_thinking": False}),
    "tools_empty_list": ([U], {"tools": []}),
    "non_ascii_everywhere": ([{"role": "system", "content": "Réponds en français 🇫🇷"}, {"role": "user", "content": "天气怎么样？"}], {}),
    "html_chars_in_messages": ([{"role": "user", "content": "a < b && c > d 'x' \"y\""}, A("<b>bold</b> & more")], {"add_generation_prompt": False}),
    "preserved_thinking_multi_turn": (
        [SYS, U, A("Sunny.", reasoning_content="r1"), U2, A("Rain.", reasoning_content="r2"), {"role": "user", "content": "ok"}],
        {"clear_thinking": False},
    ),
    "preserved_thinking_off": ([U, A("Sunny.", reasoning_content="r1"), U2], {"clear_thinking": False, "enable_thinking": False}),
    "assistant_first": ([A("Hello! How can I help?"), U], {}),
    "unknown_role_ignored": ([{"role": "developer", "content": "hidden"}, U], {}),
    "tool_first_message": ([TOOL("orphan result"), U], {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_reference(case):
    messages, kwargs = CASES[case]
    assert render_prompt(TEMPLATE, messages, **kwargs) == reference(messages, **kwargs)


def test_enough_reference_cases():
    assert len(CASES) >= 40


# ---- hand-written expectations (a bug shared by both renderers cannot hide here) -------------------------


def test_exact_single_user():
    assert render_prompt(TEMPLATE, [{"role": "user", "content": "hi"}]) == "[gMASK]<sop><|user|>hi<|assistant|><think>"


def test_exact_thinking_off():
    out = render_prompt(TEMPLATE, [{"role": "user", "content": "hi"}], enable_thinking=False)
    assert out == "[gMASK]<sop><|user|>hi<|assistant|></think>"


def test_exact_no_generation_prompt_with_system():
    out = render_prompt(TEMPLATE, [SYS, {"role": "user", "content": "hi"}], add_generation_prompt=False)
    assert out == "[gMASK]<sop><|system|>You are a helpful assistant.<|user|>hi"


def test_exact_past_reasoning_cleared_and_preserved():
    msgs = [{"role": "user", "content": "a"}, A("b", reasoning_content=" why "), {"role": "user", "content": "c"}]
    assert render_prompt(TEMPLATE, msgs) == "[gMASK]<sop><|user|>a<|assistant|></think>b<|user|>c<|assistant|><think>"
    assert render_prompt(TEMPLATE, msgs, clear_thinking=False) == (
        "[gMASK]<sop><|user|>a<|assistant|><think>why</think>b<|user|>c<|assistant|><think>"
    )


def test_exact_tool_call_and_results():
    msgs = [
        {"role": "user", "content": "w"},
        A("", tool_calls=[CALL("get_weather", {"city": " Bei jing\n", "days": 3, "o": {"k": "ü"}})]),
        TOOL("r1"),
        TOOL("r2"),
    ]
    out = render_prompt(TEMPLATE, msgs)
    assert out == (
        "[gMASK]<sop><|user|>w<|assistant|></think>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value> Bei jing\n</arg_value>"
        "<arg_key>days</arg_key><arg_value>3</arg_value>"
        '<arg_key>o</arg_key><arg_value>{"k": "ü"}</arg_value></tool_call>'
        "<|observation|><tool_response>r1</tool_response><tool_response>r2</tool_response><|assistant|><think>"
    )


def test_tool_schema_not_html_escaped():
    out = render_prompt(TEMPLATE, [U], tools=[WEATHER])
    line = next(l for l in out.splitlines() if l.startswith("{"))
    assert json.loads(line) == WEATHER
    assert "<html> & 'quotes'" in line and "城市 < 100" in line and "für" in line
    assert "\\u003c" not in out and "&lt;" not in out and "\\u00fc" not in out


def test_tojson_filter_options():
    tpl = "{{ x | tojson }}|{{ x | tojson(ensure_ascii=True) }}|{{ x | tojson(indent=1, sort_keys=True) }}|{{ x | tojson(separators=(',', ':')) }}"
    x = {"b": "<ü>", "a": [1, 2]}
    out = render_prompt(tpl, [], x=x)
    assert out.split("|") == [
        '{"b": "<ü>", "a": [1, 2]}',
        '{"b": "<\\u00fc>", "a": [1, 2]}',
        '{\n "a": [\n  1,\n  2\n ],\n "b": "<ü>"\n}',
        '{"b":"<ü>","a":[1,2]}',
    ]


# ---- other templates, variables, errors --------------------------------------------------------------------

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def test_chatml_template_renders():
    out = render_prompt(CHATML, [{"role": "user", "content": "Hi"}])
    assert out == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert not prompt_opens_thinking(out)


def test_extra_variables_and_globals():
    tpl = "{{ bos_token }}{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.content }}{% endfor %}{{ eos_token }}|{{ strftime_now('%Y') | length }}"
    out = render_prompt(tpl, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], bos_token="<s>", eos_token="</s>")
    assert out == "<s>a</s>|4"


def test_trim_and_lstrip_blocks():
    tpl = "x\n  {% if true %}\ny\n  {% endif %}\nz"
    assert render_prompt(tpl, []) == "x\ny\nz"


def test_generation_block_renders_body():
    tpl = "{% for m in messages %}{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}"
    assert render_prompt(tpl, [{"role": "assistant", "content": "a"}]) == "[a]"


def test_raise_exception_becomes_engine_error():
    with pytest.raises(EngineError) as err:
        render_prompt("{{ raise_exception('Only user and assistant roles are supported') }}", [])
    assert "Only user and assistant roles are supported" in err.value.message
    assert err.value.hint


def test_syntax_error_becomes_engine_error():
    with pytest.raises(EngineError) as err:
        render_prompt("{% if x %}unclosed", [])
    assert "does not compile" in err.value.message and "line 1" in err.value.message


def test_string_arguments_give_clear_error():
    msgs = [U, A("", tool_calls=[CALL("get_weather", '{"city": "A"}')])]
    with pytest.raises(EngineError) as err:
        render_prompt(TEMPLATE, msgs)
    assert err.value.hint and "\n" not in err.value.message


def test_sandbox_blocks_mutation():
    with pytest.raises(EngineError):
        render_prompt("{% set _ = messages.append(1) %}x", [])


def test_template_compiled_once():
    from glmchat.glm import template as mod

    mod._compile.cache_clear()
    for _ in range(3):
        render_prompt(TEMPLATE, [U])
    info = mod._compile.cache_info()
    assert info.misses == 1 and info.hits == 2


def test_prompt_opens_thinking_and_end_tokens():
    assert prompt_opens_thinking(render_prompt(TEMPLATE, [U]))
    assert not prompt_opens_thinking(render_prompt(TEMPLATE, [U], enable_thinking=False))
    assert prompt_opens_thinking("...<|assistant|><think>\n")
    assert not prompt_opens_thinking("<think>x</think>")
    assert GLM_END_TOKENS == ("<|user|>", "<|observation|>", "<|endoftext|>")


def test_glm_template_and_model_names():
    from glmchat.glm import is_glm_model, is_glm_template

    assert is_glm_template(TEMPLATE)
    assert not is_glm_template(None) and not is_glm_template("{{ '<|im_start|>' }}<|assistant|>")
    assert is_glm_model("GLM-4.7-Flash") and is_glm_model("zai-org/GLM-4.7-Flash")
    assert is_glm_model("/models/glm-4.7-flash-q4_k_m.gguf")
    assert not is_glm_model("/home/u/glm-models/llama-3.gguf") and not is_glm_model("smollm2")
