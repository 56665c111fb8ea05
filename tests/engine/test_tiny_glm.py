"""The tiny GLM-4.7-Flash-shaped GGUF, and grammar-forced end-to-end runs through the real stack.

Engine (llama.cpp, deepseek2 graph, GLM tokenizer) → raw text → GlmStreamParser → events, with a
GBNF grammar fixing what the random-weight model writes, so the expected events are exact.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glmchat.engine.base import ChatRequest, Finished, RawText, SamplingParams, Started
from glmchat.glm import Answer, GlmStreamParser, IncompleteToolCall, Thinking, ToolCall
from tests.fixtures.tiny_glm import (
    EOG_IDS,
    EOM_ID,
    EOS_ID,
    EOT_ID,
    SPECIAL_IDS,
    TEMPLATE_PATH,
    TEXT_TAGS,
    VOCAB_SIZE,
    build_tiny_glm,
    gbnf_literal,
)

GENERAL = SamplingParams(temperature=1.0, top_p=0.95, top_k=40, min_p=0.01, repeat_penalty=1.0)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a text file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
    },
    {"type": "function", "function": {"name": "now", "description": "The time.", "parameters": {"type": "object", "properties": {}}}},
]


# ---- the file itself -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meta(tiny_glm_path):
    """The GGUF header, token list decoded (gguf.GGUFReader takes ~15 s over 154,880 tokens + merges)."""
    from glmchat.engine.gguf_meta import read_gguf

    return read_gguf(tiny_glm_path, max_array=VOCAB_SIZE)


def test_metadata_is_glm_shaped(meta, tiny_glm_path):
    assert meta.metadata["general.architecture"] == "deepseek2"
    assert meta.metadata["deepseek2.vocab_size"] == VOCAB_SIZE == 154_880
    tokens = meta.metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == VOCAB_SIZE
    assert meta.metadata["tokenizer.ggml.model"] == "gpt2"
    assert meta.metadata["tokenizer.ggml.pre"] == "glm4"
    assert meta.metadata["tokenizer.chat_template"] == TEMPLATE_PATH.read_text(encoding="utf-8")
    # the real model's ids for the tokens the app and template rely on
    for text, tid in {"<|endoftext|>": 154820, "[gMASK]": 154822, "<sop>": 154824, "<|system|>": 154826,
                      "<|user|>": 154827, "<|assistant|>": 154828, "<|observation|>": 154829}.items():
        assert tokens[tid] == text and SPECIAL_IDS[text] == tid
    for text in ("<think>", "</think>", "<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>",
                 "<arg_value>", "</arg_value>", "<tool_response>", "</tool_response>"):
        assert tokens[SPECIAL_IDS[text]] == text
    assert meta.metadata["tokenizer.ggml.eos_token_id"] == EOS_ID
    assert meta.metadata["tokenizer.ggml.eot_token_id"] == EOT_ID
    assert meta.metadata["tokenizer.ggml.eom_token_id"] == EOM_ID
    # the MoE / MLA layout the real model has
    assert meta.metadata["deepseek2.expert_gating_func"] == 2  # sigmoid, set explicitly
    assert meta.metadata["deepseek2.leading_dense_block_count"] == 1
    assert meta.metadata["deepseek2.expert_shared_count"] == 1
    assert meta.metadata["deepseek2.expert_weights_norm"] is True
    assert meta.metadata["deepseek2.expert_weights_scale"] == pytest.approx(1.8)
    assert meta.metadata["deepseek2.attention.head_count_kv"] == 1
    names = {t.name for t in meta.tensors}
    assert {"blk.0.ffn_gate.weight", "blk.1.ffn_gate_exps.weight", "blk.1.exp_probs_b.bias",
            "blk.1.ffn_up_shexp.weight", "blk.0.attn_k_b.weight", "blk.0.attn_v_b.weight",
            "blk.0.attn_q_a.weight", "blk.0.attn_kv_a_mqa.weight"} <= names
    assert "blk.0.ffn_gate_exps.weight" not in names  # block 0 is the dense one
    assert tiny_glm_path.stat().st_size < 50 * 2**20


def test_builder_reuses_and_rebuilds(tmp_path):
    p = tmp_path / "t.gguf"
    t0 = time.perf_counter()
    build_tiny_glm(p)
    build_time = time.perf_counter() - t0
    assert build_time < 20
    mtime = p.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert build_tiny_glm(p) == p and p.stat().st_mtime_ns == mtime  # same parameters: reused
    assert time.perf_counter() - t0 < 0.5
    first = p.read_bytes()
    build_tiny_glm(p, seed=1)  # different parameters: rewritten
    assert p.read_bytes() != first
    with pytest.raises(ValueError):
        build_tiny_glm(tmp_path / "x.gguf", n_layers=1)


# ---- llama.cpp directly ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm(tiny_glm_path):
    import llama_cpp

    m = llama_cpp.Llama(model_path=str(tiny_glm_path), n_ctx=512, n_threads=1, verbose=False, logits_all=True)
    yield m
    m.close()


@pytest.mark.slow
def test_llama_cpp_end_tokens_and_detokenization(llm):
    import llama_cpp

    vocab = llm._model.vocab
    eog = {t for t in range(VOCAB_SIZE) if llama_cpp.llama_vocab_is_eog(vocab, t)}
    assert eog == set(EOG_IDS) == {154820, 154827, 154829}
    for text, tid in SPECIAL_IDS.items():
        assert llm.detokenize([tid], special=True).decode() == text
        # the tags the model writes are text in any mode; control tokens only with special=True
        assert llm.detokenize([tid], special=False).decode() == (text if text in TEXT_TAGS else "")
    prompt = "[gMASK]<sop><|user|>hi<|assistant|><think>"
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    assert ids[:3] == [154822, 154824, 154827] and ids[-2:] == [154828, 154841]


@pytest.mark.slow
@pytest.mark.parametrize("text", ["Hello, world!", "  indented\n\ttabs\r\n", "naïve café — 日本語 🙂", "x" * 300, ""])
def test_any_text_round_trips(llm, text):
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    assert all(0 <= t < 154_820 for t in ids)
    assert llm.detokenize(ids).decode() == text


@pytest.mark.slow
def test_logits_are_peaked(llm):
    """A trained model's next-token distribution is concentrated; a flat one would defeat top-p/min-p."""
    text = "[gMASK]<sop><|user|>Please read the file README.md and summarise it for me.<|assistant|><think>"
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(ids)
    top1, mass_tokens = [], []
    for row in np.asarray(llm.scores[: len(ids)], dtype=np.float64):
        p = np.exp(row - row.max())
        p /= p.sum()
        s = np.sort(p)[::-1]
        top1.append(s[0])
        mass_tokens.append(int(np.searchsorted(np.cumsum(s), 0.95)) + 1)
    assert np.mean(top1) > 0.3
    assert np.median(mass_tokens) < 200  # of 154,880


@pytest.mark.slow
def test_grammar_forces_special_tokens(llm):
    """A text grammar comes out with the tags as single special tokens (a trained GLM never spells them out)."""
    from llama_cpp import LlamaGrammar

    target = "plan</think>Hello<tool_call>read_file<arg_key>path</arg_key><arg_value>README.md</arg_value></tool_call>"
    grammar = LlamaGrammar.from_string("root ::= " + gbnf_literal(target), verbose=False)
    prompt = llm.tokenize(b"[gMASK]<sop><|user|>hi<|assistant|><think>", add_bos=False, special=True)
    llm.set_seed(5)
    out: list[int] = []
    for tok in llm.generate(prompt, temp=1.0, top_k=40, top_p=0.95, min_p=0.01, grammar=grammar, reset=True):
        out.append(tok)
        if tok in EOG_IDS or len(out) > 200:
            break
    assert out[-1] == EOM_ID  # after a tool call the model ends on <|observation|>
    assert llm.detokenize(out[:-1], special=True).decode() == target
    for tag in ("</think>", "<tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>", "</tool_call>"):
        assert SPECIAL_IDS[tag] in out


# ---- through glmchat's engine and parser ---------------------------------------------------------------


class _Recorder:
    """Stands in for the llama_cpp module inside the engine and records every sampled token."""

    def __init__(self, lc: Any) -> None:
        self._lc = lc
        self.sampled: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lc, name)

    def llama_sampler_sample(self, *args: Any) -> int:
        token = self._lc.llama_sampler_sample(*args)
        self.sampled.append(token)
        return token


@pytest.fixture(scope="module")
def engine(tiny_glm_path, tmp_path_factory):
    from glmchat.engine.local import LocalEngine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(tmp_path_factory.mktemp("tiny-glm-data")))
        # one thread: with two, a busy 2-core box makes llama.cpp's spinning workers ~10x slower
        eng = LocalEngine.load(tiny_glm_path, n_ctx=1024, n_threads=1, verbose=False)
    rec = _Recorder(eng._llama)
    eng._llama = rec
    yield eng
    eng.close()


def run_forced(engine, target: str | None = None, *, grammar: str | None = None, thinking: bool = True,
               tools: list | None = None, max_tokens: int | None = 400, seed: int = 7):
    """Generate under a grammar; returns (Started, raw text, Finished, events, sampled tokens)."""
    rec: _Recorder = engine._llama
    rec.sampled.clear()
    req = ChatRequest(
        messages=[{"role": "user", "content": "Look at the project, please."}],
        sampling=SamplingParams(**{**GENERAL.to_dict(), "max_tokens": max_tokens, "seed": seed}),
        tools=tools,
        enable_thinking=thinking,
        grammar=grammar or "root ::= " + gbnf_literal(target or ""),
    )
    items = list(engine.stream(req))
    started, finished = items[0], items[-1]
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert all(isinstance(i, RawText) for i in items[1:-1])
    parser = GlmStreamParser(tools=tools, thinking=started.in_thinking)
    events = []
    for i in items[1:-1]:
        events += parser.feed(i.text)
    events += parser.finish()
    raw = "".join(i.text for i in items[1:-1])
    return started, raw, finished, _merged(events), list(rec.sampled)


def _merged(events):
    out = []
    for e in events:
        if out and type(e) is type(out[-1]) and isinstance(e, (Thinking, Answer)):
            out[-1] = type(e)(out[-1].text + e.text)
        else:
            out.append(e)
    return out


@pytest.mark.slow
def test_engine_reads_the_gguf(engine):
    assert engine.info.chat_template == TEMPLATE_PATH.read_text(encoding="utf-8")
    assert engine.info.thinking is True
    assert engine.info.details["architecture"] == "deepseek2"
    assert set(engine.end_tokens()) == set(EOG_IDS)


@pytest.mark.slow
def test_thinking_then_answer(engine):
    started, raw, fin, events, sampled = run_forced(engine, "Let me look.</think>The project has a README.")
    assert started.in_thinking is True
    assert raw == "Let me look.</think>The project has a README."
    assert events == [Thinking("Let me look."), Answer("The project has a README.")]
    assert fin.usage.stop_reason == "stop"
    assert SPECIAL_IDS["</think>"] in sampled  # the real tag token, detokenized as text
    assert sampled[-1] == EOT_ID  # a plain answer ends on <|user|> ...
    assert "<|user|>" not in raw  # ... which stops the stream without being written
    assert fin.usage.completion_tokens == len(sampled) - 1


@pytest.mark.slow
def test_answer_only_with_thinking_off(engine):
    started, raw, fin, events, sampled = run_forced(engine, "Just the answer.", thinking=False)
    assert started.in_thinking is False
    assert events == [Answer("Just the answer.")]
    assert sampled[-1] == EOT_ID and fin.usage.stop_reason == "stop"


@pytest.mark.slow
def test_one_call(engine):
    target = ("I should read it.</think>Reading it now."
              "<tool_call>read_file<arg_key>path</arg_key><arg_value>README.md</arg_value></tool_call>")
    _, raw, fin, events, sampled = run_forced(engine, target, tools=TOOLS)
    assert raw == target
    assert events[:2] == [Thinking("I should read it."), Answer("Reading it now.")]
    assert len(events) == 3 and isinstance(events[2], ToolCall)
    call = events[2]
    assert call.name == "read_file" and call.arguments == {"path": "README.md"}
    assert call.raw == target[target.index("<tool_call>"):]
    # after a call the model ends on <|observation|>; the stream stops there, tag not written
    assert sampled[-1] == EOM_ID and "<|observation|>" not in raw
    assert fin.usage.stop_reason == "stop"
    for tag in ("<tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>", "</tool_call>"):
        assert SPECIAL_IDS[tag] in sampled


@pytest.mark.slow
def test_two_calls_with_token_references(engine):
    """Tags forced by token id (`<[id]>`) rather than text; typed arguments from the schema."""
    t = {k: f"<[{v}]>" for k, v in SPECIAL_IDS.items()}
    grammar = (
        'root ::= "ok" ' + t["</think>"]
        + " call1 call2\n"
        + "call1 ::= " + t["<tool_call>"] + ' "read_file" ' + t["<arg_key>"] + ' "path" ' + t["</arg_key>"]
        + " " + t["<arg_value>"] + ' "a.txt" ' + t["</arg_value>"] + " " + t["<arg_key>"] + ' "limit" '
        + t["</arg_key>"] + " " + t["<arg_value>"] + ' "3" ' + t["</arg_value>"] + " " + t["</tool_call>"] + "\n"
        + "call2 ::= " + t["<tool_call>"] + ' "read_file" ' + t["<arg_key>"] + ' "path" ' + t["</arg_key>"]
        + " " + t["<arg_value>"] + ' "b.txt" ' + t["</arg_value>"] + " " + t["</tool_call>"] + "\n"
    )
    _, raw, fin, events, sampled = run_forced(engine, grammar=grammar, tools=TOOLS)
    assert raw == ("ok</think><tool_call>read_file<arg_key>path</arg_key><arg_value>a.txt</arg_value>"
                   "<arg_key>limit</arg_key><arg_value>3</arg_value></tool_call>"
                   "<tool_call>read_file<arg_key>path</arg_key><arg_value>b.txt</arg_value></tool_call>")
    assert events[0] == Thinking("ok")
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "a.txt", "limit": 3}),
                                                       ("read_file", {"path": "b.txt"})]
    assert not [e for e in events if isinstance(e, (Answer, IncompleteToolCall))]
    assert sampled.count(SPECIAL_IDS["<tool_call>"]) == 2
    assert sampled[-1] == EOM_ID and fin.usage.stop_reason == "stop"


@pytest.mark.slow
def test_zero_argument_call(engine):
    _, raw, fin, events, sampled = run_forced(engine, "Time?</think><tool_call>now</tool_call>", tools=TOOLS)
    assert events[0] == Thinking("Time?")
    assert events[1:] == [ToolCall("now", {}, "<tool_call>now</tool_call>")]
    assert sampled[-1] == EOM_ID and fin.usage.stop_reason == "stop"


@pytest.mark.slow
def test_thinking_cut_off_by_max_tokens(engine):
    target = "First I will read the whole project and then I will answer.</think>Done."
    _, raw, fin, events, sampled = run_forced(engine, target, max_tokens=6)
    assert fin.usage.stop_reason == "length" and fin.usage.completion_tokens == 6
    assert raw and target.startswith(raw) and "</think>" not in raw
    assert events == [Thinking(raw)]  # no </think> at all: everything is reasoning


@pytest.mark.slow
def test_cut_off_inside_a_call_is_incomplete(engine):
    target = "go</think><tool_call>read_file<arg_key>path</arg_key><arg_value>some/long/path/to/a/file.txt</arg_value></tool_call>"
    _, raw, fin, events, _ = run_forced(engine, target, tools=TOOLS, max_tokens=8)
    assert fin.usage.stop_reason == "length"
    assert "<tool_call>" in raw and "</tool_call>" not in raw
    assert events[0] == Thinking("go")
    assert isinstance(events[-1], IncompleteToolCall) and events[-1].raw == raw[raw.index("<tool_call>"):]
    assert not [e for e in events if isinstance(e, ToolCall)]


@pytest.mark.slow
def test_free_generation_ends_by_itself(engine):
    """Without a grammar the model writes peaked random text and ends on an end token by itself."""
    rec: _Recorder = engine._llama
    stops = 0
    for seed in range(4):
        rec.sampled.clear()
        req = ChatRequest(messages=[{"role": "user", "content": "Hi"}],
                          sampling=SamplingParams(**{**GENERAL.to_dict(), "max_tokens": 600, "seed": seed}))
        items = list(engine.stream(req))
        fin = items[-1]
        raw = "".join(i.text for i in items if isinstance(i, RawText))
        assert not any(tag in raw for tag in ("<|user|>", "<|observation|>", "<|endoftext|>"))
        if fin.usage.stop_reason == "stop":
            stops += 1
            assert rec.sampled[-1] in EOG_IDS
        assert fin.usage.completion_tokens == 0 or fin.usage.generation_tokens_per_second > 0
    assert stops >= 3
