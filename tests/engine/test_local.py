"""The embedded llama.cpp engine on real models: SmolLM2-135M and the tiny GLM-shaped GGUF."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from glmchat.engine.base import CancelToken, ChatRequest, Engine, Finished, PromptProgress, RawText, SamplingParams, Started
from glmchat.engine.local import LocalEngine
from glmchat.errors import EngineError, ModelError
from glmchat.settings import BUILTIN_PROFILES

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)


@pytest.fixture(scope="module")
def engine(smollm2_path, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLMCHAT_DATA_DIR", str(tmp_path_factory.mktemp("engine-data")))
        eng = LocalEngine.load(smollm2_path, n_ctx=2048, n_threads=1)
    yield eng
    eng.close()


def ask(text: str, **sampling) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingParams(**sampling))


def run(engine: LocalEngine, request: ChatRequest, cancel: CancelToken | None = None) -> tuple[Started, str, Finished, list]:
    items = list(engine.stream(request, cancel))
    assert isinstance(items[0], Started)
    assert isinstance(items[-1], Finished)
    body = [i for i in items[1:-1] if not isinstance(i, PromptProgress)]  # a long prompt reports its chunks first
    assert all(isinstance(i, RawText) for i in body) and items[1 : 1 + len(items) - 2 - len(body)] == [i for i in items[1:-1] if isinstance(i, PromptProgress)]
    return items[0], "".join(i.text for i in body), items[-1], items


def test_info_and_protocol(engine, smollm2_path):
    assert isinstance(engine, Engine)
    info = engine.info
    assert info.path == str(smollm2_path.resolve())
    assert info.n_ctx == 2048 and info.n_ctx_train == 8192
    assert info.backend == "CPU" and info.quant == "Q4_1"
    assert "<|im_start|>" in (info.chat_template or "")
    assert info.thinking is False
    assert info.details["architecture"] == "llama"
    assert info.details["threads"] == 1


def test_optional_capabilities_are_declared(engine):
    from glmchat.engine.base import Benchmarkable, SnapshotCapable, Tokenizing
    from glmchat.engine.scripted import ScriptedEngine

    assert isinstance(engine, SnapshotCapable) and isinstance(engine, Tokenizing) and isinstance(engine, Benchmarkable)
    scripted = ScriptedEngine()
    assert isinstance(scripted, Engine)
    assert not isinstance(scripted, (SnapshotCapable, Tokenizing, Benchmarkable))


def test_stream_text_and_usage(engine):
    req = ask("Name three colours.", seed=11, max_tokens=40)
    started, text, finished, items = run(engine, req)
    u = finished.usage
    assert text.strip()
    assert "<|im_end|>" not in text  # the end-of-generation token stops, it is not emitted
    assert started.prompt_tokens == u.prompt_tokens == engine.count_tokens(req)
    assert 1 <= u.completion_tokens <= 40
    assert u.stop_reason in ("stop", "length")
    assert u.generation_time > 0 and u.prompt_time > 0
    assert u.time_to_first_token >= u.prompt_time
    assert math.isclose(u.generation_tokens_per_second, u.completion_tokens / u.generation_time, rel_tol=1e-9)
    evaluated = u.prompt_tokens - u.cached_prompt_tokens
    assert math.isclose(u.prompt_tokens_per_second, evaluated / u.prompt_time, rel_tol=1e-9)


def test_max_tokens_stops_with_length(engine):
    _, text, finished, _ = run(engine, ask("Write a long story about a dragon.", seed=1, max_tokens=7))
    assert finished.usage.stop_reason == "length"
    assert finished.usage.completion_tokens == 7
    assert text


def test_second_turn_evaluates_only_new_tokens(engine):
    engine.reset_cache()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    _, answer, f1, _ = run(engine, ChatRequest(messages=msgs, sampling=SamplingParams(seed=5, max_tokens=30)))
    u1 = f1.usage
    assert u1.cached_prompt_tokens == 0
    msgs += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And of Italy?"}]
    s2, _, f2, _ = run(engine, ChatRequest(messages=msgs, sampling=SamplingParams(seed=5, max_tokens=5)))
    u2 = f2.usage
    assert s2.cached_prompt_tokens == u2.cached_prompt_tokens
    assert u2.cached_prompt_tokens >= u1.prompt_tokens + u1.completion_tokens - 4
    assert u2.prompt_tokens - u2.cached_prompt_tokens < 25  # only the new turn was evaluated
    # the same prompt again: everything but the last token comes from the cache
    s3, _, _, _ = run(engine, ChatRequest(messages=msgs, sampling=SamplingParams(seed=5, max_tokens=3)))
    assert s3.cached_prompt_tokens == s3.prompt_tokens - 1


def test_cancel_after_fifth_token_then_next_turn_works(engine):
    cancel = CancelToken()
    n_text = 0
    after_cancel = 0
    finished = None
    for item in engine.stream(ask("Count from 1 to 100, separated by commas.", temperature=0.0, max_tokens=200), cancel):
        if isinstance(item, RawText):
            if cancel.cancelled:
                after_cancel += 1
            n_text += 1
            if n_text == 5:
                cancel.cancel()
        elif isinstance(item, Finished):
            finished = item
    assert finished is not None
    assert finished.usage.stop_reason == "cancelled"
    assert after_cancel <= 1
    assert finished.usage.completion_tokens <= 6
    # the engine is still usable and its cache consistent
    _, text, f, _ = run(engine, ask("Say hello.", seed=2, max_tokens=8))
    assert text and f.usage.stop_reason in ("stop", "length")


def test_seed_reproducible(engine):
    req = ask("Tell me a fun fact.", seed=1234, max_tokens=24)
    _, a, _, _ = run(engine, req)
    engine.reset_cache()
    _, b, _, _ = run(engine, req)
    _, c, _, _ = run(engine, ask("Tell me a fun fact.", seed=99, max_tokens=24))
    assert a == b
    assert a != c


def _last_logits(engine: LocalEngine):
    import llama_cpp
    import numpy as np

    n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(engine._ctx, -1), shape=(n_vocab,)).copy()


def test_prefix_cache_matches_fresh_evaluation(engine):
    """Logits after reusing the KV cache equal (within llama.cpp's batch-size noise) a fresh evaluation."""
    import numpy as np

    msgs = [{"role": "user", "content": "Tell me about the moon."}]
    engine.reset_cache()
    _, answer, _, _ = run(engine, ChatRequest(messages=msgs, sampling=SamplingParams(seed=8, max_tokens=20)))
    msgs += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And the sun?"}]
    req = ChatRequest(messages=msgs, sampling=GREEDY.__class__(**{**GREEDY.to_dict(), "max_tokens": 1}))
    s_cached, _, _, _ = run(engine, req)
    cached = _last_logits(engine)
    engine.reset_cache()
    s_fresh, _, _, _ = run(engine, req)
    fresh = _last_logits(engine)
    assert s_cached.cached_prompt_tokens > 30 and s_fresh.cached_prompt_tokens == 0
    assert np.corrcoef(cached, fresh)[0, 1] > 0.999
    assert np.abs(cached - fresh).max() < 2.0
    # greedy is reproducible from a fresh cache
    engine.reset_cache()
    _, a, _, _ = run(engine, ask("What is 2 + 2?", temperature=0.0, max_tokens=12))
    engine.reset_cache()
    _, b, _, _ = run(engine, ask("What is 2 + 2?", temperature=0.0, max_tokens=12))
    assert a == b


def test_grammar_forces_multibyte_text(engine):
    target = "你好, 世界 🙂 ok"
    req = ChatRequest(messages=[{"role": "user", "content": "Greet me."}], sampling=SamplingParams(seed=3, max_tokens=60))
    req.grammar = 'root ::= "你好, 世界 🙂 ok"'
    _, text, finished, items = run(engine, req)
    assert text == target
    assert "\ufffd" not in text
    assert finished.usage.stop_reason == "stop"
    # byte-level BPE splits these characters over several tokens: pieces were held back, not mangled
    assert finished.usage.completion_tokens > len(items) - 2


class _Recorder:
    """Wraps llama_cpp.llama_sampler_init_* to record the values the engine hands to llama.cpp."""

    NAMES = ("top_k", "top_p", "min_p", "temp", "penalties", "dist", "greedy", "grammar")

    def __init__(self, monkeypatch):
        import llama_cpp

        self.calls: list[tuple[str, tuple]] = []
        for name in self.NAMES:
            real = getattr(llama_cpp, f"llama_sampler_init_{name}")
            monkeypatch.setattr(llama_cpp, f"llama_sampler_init_{name}", self._wrap(name, real))

    def _wrap(self, name, real):
        def wrapper(*args):
            self.calls.append((name, args))
            return real(*args)

        return wrapper

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def args(self, name: str) -> tuple:
        return next(a for n, a in self.calls if n == name)


@pytest.mark.parametrize("profile", sorted(BUILTIN_PROFILES))
def test_sampler_values_reach_llama_cpp(engine, monkeypatch, profile):
    rec = _Recorder(monkeypatch)
    params = BUILTIN_PROFILES[profile]
    req = ChatRequest(messages=[{"role": "user", "content": "Hi"}], sampling=SamplingParams(**{**params.to_dict(), "max_tokens": 3, "seed": 42}))
    run(engine, req)
    names = rec.names()
    assert "penalties" not in names  # repeat penalty 1.0 = off
    assert rec.args("top_k") == (params.top_k,)
    assert names.index("top_k") == 0  # top_k truncates first
    if params.top_p < 1.0:
        assert rec.args("top_p") == (pytest.approx(params.top_p), 1)
        assert names.index("top_k") < names.index("top_p") < names.index("min_p")
    else:
        assert "top_p" not in names  # top_p 1.0 keeps everything: same result without the sort
    assert rec.args("min_p") == (pytest.approx(params.min_p), 1)
    assert rec.args("temp") == (pytest.approx(params.temperature),)
    assert rec.args("dist") == (42,)
    assert names[-2:] == ["temp", "dist"]


def test_sampler_top_k_off_penalty_and_greedy(engine, monkeypatch):
    rec = _Recorder(monkeypatch)
    _, text, _, _ = run(engine, ask("Hi", temperature=0.8, top_k=0, top_p=0.9, min_p=0.05, repeat_penalty=1.1, seed=7, max_tokens=4))
    assert text
    assert "top_k" not in rec.names()
    assert rec.names() == ["penalties", "top_p", "min_p", "temp", "dist"]
    assert rec.args("penalties") == (49152, 64, pytest.approx(1.1), 0.0, 0.0)  # n_vocab, last_n, repeat, freq, present
    rec.calls.clear()
    run(engine, ask("Hi", temperature=0.0, max_tokens=2))
    assert rec.names() == ["greedy"]
    rec.calls.clear()
    req = ask("Hi", max_tokens=5)
    req.grammar = 'root ::= "yes" | "no"'
    _, text, _, _ = run(engine, req)
    assert rec.names()[0] == "grammar" and text in ("yes", "no")


def test_llama_log_goes_to_file_not_terminal(smollm2_path, capfd, isolated_dirs):
    from glmchat.settings import log_path

    eng = LocalEngine.load(smollm2_path, n_ctx=256, n_threads=1)
    try:
        out, err = capfd.readouterr()
        assert "llama" not in out + err and "model" not in out + err
        assert eng.info.details["log_path"] == str(log_path())
        from glmchat.engine import llama_log

        llama_log.flush()
        assert "llama_model_loader" in log_path().read_text(encoding="utf-8")
    finally:
        eng.close()
    eng = LocalEngine.load(smollm2_path, n_ctx=256, n_threads=1, verbose=True)
    try:
        _, err = capfd.readouterr()
        assert "llama_model_loader" in err
    finally:
        eng.close()


def test_context_full_and_prompt_too_long(smollm2_path):
    eng = LocalEngine.load(smollm2_path, n_ctx=64, n_threads=1)
    try:
        assert 64 <= eng.info.n_ctx <= 256  # llama.cpp rounds small contexts up
        req = ChatRequest(messages=[{"role": "user", "content": "word " * 190}], sampling=SamplingParams(temperature=0.0))
        req.grammar = 'root ::= "x" root'  # never complete: only the full context can stop it
        s, text, f, _ = run(eng, req)
        assert f.usage.stop_reason == "length"
        assert "context is full" in (eng.last_note or "")
        assert f.usage.note == eng.last_note
        assert s.prompt_tokens + f.usage.completion_tokens == eng.info.n_ctx + 1  # the last token needs no slot
        assert text and set(text) == {"x"}
        long = ChatRequest(messages=[{"role": "user", "content": "word " * 600}])
        items = []
        with pytest.raises(EngineError, match=f"context holds {eng.info.n_ctx}"):
            for item in eng.stream(long):
                items.append(item)
        assert isinstance(items[0], Started) and isinstance(items[-1], Finished)
        assert items[-1].usage.stop_reason == "error"
    finally:
        eng.close()


def test_ctx_larger_than_trained_is_clamped(smollm2_path):
    eng = LocalEngine.load(smollm2_path, n_ctx=100_000, n_threads=1)
    try:
        assert eng.info.n_ctx == 8192
        assert any("clamped" in n for n in eng.info.details["notes"])
    finally:
        eng.close()


def test_llama_cpp_refusal_becomes_model_error(tmp_path):
    import gguf

    path = tmp_path / "alien.gguf"
    w = gguf.GGUFWriter(str(path), "no-such-architecture")
    w.add_tensor("token_embd.weight", __import__("numpy").zeros((4, 4), dtype="float32"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelError) as exc:
        LocalEngine.load(path, n_ctx=256)
    assert "could not load" in exc.value.message
    assert "llama.log" in exc.value.hint


def test_closed_engine_raises(smollm2_path):
    eng = LocalEngine.load(smollm2_path, n_ctx=256, n_threads=1)
    eng.close()
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.count_tokens(ask("hi"))


def test_tiny_glm_stops_on_its_end_tokens(tiny_glm_path):
    from tests.fixtures.tiny_glm import EOG_IDS

    eng = LocalEngine.load(tiny_glm_path, n_ctx=1024, n_threads=1)
    try:
        assert eng.info.thinking is True
        assert eng.info.n_ctx_train == 202_752
        lc = eng._llama
        assert all(lc.llama_vocab_is_eog(eng._vocab, t) for t in EOG_IDS)
        req = ChatRequest(messages=[{"role": "user", "content": "Hello"}], sampling=SamplingParams(seed=3, max_tokens=600))
        started, text, f, _ = run(eng, req)
        assert started.in_thinking is True
        assert f.usage.stop_reason == "stop"
        for tag in ("<|user|>", "<|observation|>", "<|endoftext|>"):
            assert tag not in text
        # this GGUF marks all three as end-of-generation, so no extra stop ids are needed
        assert eng._glm_stop_ids(eng.info.chat_template) == set()
        req.enable_thinking = False
        assert eng.render(req).endswith("</think>")
    finally:
        eng.close()


def test_ignore_eos_and_benchmark_helper(engine):
    """glmchat.bench.measure_generation (also the benchmark script's) makes exactly n tokens per run."""
    import importlib.util

    import glmchat.bench

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("engine_speed", root / "benchmarks" / "engine_speed.py")
    mod = importlib.util.module_from_spec(spec)
    import sys

    sys.modules.setdefault("engine_speed", mod)
    spec.loader.exec_module(mod)
    assert 2 in engine.end_tokens()  # SmolLM2's <|im_end|> / EOS
    assert mod.measure_generation is glmchat.bench.measure_generation  # one implementation
    res = glmchat.bench.measure_generation(engine, 12, reps=2, warmup=False)
    assert res.tokens == [12, 12]
    assert all(r > 0 for r in res.rates) and res.median > 0
    # a greedy answer that would end at once keeps going when end tokens are suppressed
    req = ChatRequest(messages=[{"role": "user", "content": "Reply with just: ok"}], sampling=SamplingParams(temperature=0.0, max_tokens=60))
    natural = list(engine.stream(req))[-1].usage
    assert natural.stop_reason == "stop" and natural.completion_tokens < 60
    req.sampling = SamplingParams(temperature=0.0, max_tokens=natural.completion_tokens + 5)
    items = list(engine.stream(req, ignore_eos=True))
    assert items[-1].usage.stop_reason == "length" and items[-1].usage.completion_tokens == natural.completion_tokens + 5
