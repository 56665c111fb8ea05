"""MTP drafting with a NextN layer: detection from the GGUF header, the mode it resolves to, and on the
tiny GLM with a NextN block: drafts run and are counted, output identical to plain decoding (greedy
token for token, sampling in distribution), a file without NextN asked for "mtp" falls back."""

from __future__ import annotations

import collections
from pathlib import Path
from types import SimpleNamespace

import pytest

from glmchat.engine import mtp_draft
from glmchat.engine.base import ChatRequest, Finished, RawText, SamplingParams
from glmchat.engine.gguf_meta import GgufInfo, TensorInfo, nextn_layers, read_gguf
from glmchat.engine.speculative import mode_note, resolve_mode
from tests.engine.speculation_support import GREEDY, generate, user

PROMPT = "Tell me a story about a cat who learns to sail."


@pytest.fixture(scope="module")
def nextn_path(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_glm import build_tiny_glm

    return build_tiny_glm(tmp_path_factory.mktemp("tiny-glm-nextn") / "tiny-glm-nextn.gguf", nextn=True)


def header(meta: dict, tensors: list[str]) -> GgufInfo:
    infos = [TensorInfo(name, (1,), 0, 0, 4) for name in tensors]
    return GgufInfo(Path("x.gguf"), 3, {"general.architecture": "deepseek2", **meta}, infos, 0, 0)


# ---- detection and modes (no model) ---------------------------------------------------------------


def test_nextn_layers_needs_the_key_and_the_tensors():
    full = header({"deepseek2.block_count": 48, "deepseek2.nextn_predict_layers": 1}, ["blk.47.nextn.eh_proj.weight"])
    assert nextn_layers(full) == 1
    stripped = header({"deepseek2.block_count": 48, "deepseek2.nextn_predict_layers": 1}, ["blk.46.attn_norm.weight"])
    assert nextn_layers(stripped) == 0  # the key kept, the tensors dropped
    assert nextn_layers(header({"deepseek2.block_count": 47}, [])) == 0


def test_fixture_writes_the_nextn_block_llama_cpp_looks_for(nextn_path, tiny_glm_path):
    info = read_gguf(nextn_path)
    assert info.arch_value("block_count") == 3 and info.arch_value("nextn_predict_layers") == 1
    names = {t.name for t in info.tensors}
    assert {"blk.2.nextn.eh_proj.weight", "blk.2.nextn.enorm.weight", "blk.2.nextn.hnorm.weight",
            "blk.2.nextn.shared_head_norm.weight", "blk.2.ffn_gate_inp.weight", "blk.2.attn_kv_a_mqa.weight"} <= names
    assert nextn_layers(info) == 1
    assert nextn_layers(read_gguf(tiny_glm_path)) == 0


def test_modes_pick_mtp_only_when_a_nextn_layer_runs():
    assert [resolve_mode(m, True) for m in ("auto", "mtp", "ngram", "off")] == ["mtp", "mtp", "ngram", "off"]
    assert [resolve_mode(m) for m in ("auto", "mtp", "ngram", "off")] == ["ngram", "ngram", "ngram", "off"]
    assert "no NextN" in mode_note("mtp", False, "this model file has no NextN (MTP) layer")
    assert mode_note("mtp", True) is None and mode_note("auto") is None


def test_prepare_load_asks_for_the_nextn_tensors_only_when_mtp_can_run(nextn_path, tiny_glm_path):
    import llama_cpp

    with_nextn, without = read_gguf(nextn_path), read_gguf(tiny_glm_path)
    for mode, info, load, why in [("auto", with_nextn, True, None), ("mtp", with_nextn, True, None),
                                  ("ngram", with_nextn, False, None), ("mtp", without, False, "no NextN")]:
        mparams = SimpleNamespace(load_mtp=False)
        reason = mtp_draft.prepare_load(llama_cpp, info, mode, mparams)
        assert mparams.load_mtp is load, mode
        assert (reason is None) if why is None else (why in reason), (mode, reason)


# ---- on the tiny GLM with a NextN block -------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(nextn_path):
    from glmchat.engine.local import LocalEngine

    # flash attention off: its CPU kernel rounds a batch of queries unlike one query (see speculative.py)
    eng = LocalEngine.load(nextn_path, n_ctx=2048, n_threads=1, flash_attn=False, speculative="mtp")
    yield eng
    eng.close()


@pytest.fixture
def draft_every_token(monkeypatch):
    """Keep MTP drafting on at every token: random weights make drafts rarely pay, and the control
    would pause them (that pausing is tested in test_speculative.py)."""
    original = mtp_draft.MtpDrafter.loop_args

    def loop_args(self, engine):
        control, drafter = original(self, engine)
        control.patience = 10**9
        return control, drafter

    monkeypatch.setattr(mtp_draft.MtpDrafter, "loop_args", loop_args)


@pytest.mark.slow
def test_mtp_context_runs_beside_the_model(engine):
    spec = engine.info.details["speculative"]
    assert spec["runs"] == "mtp" and spec["nextn_layers"] == 1 and spec["note"] is None
    assert spec["line"] == "mtp (1 NextN layer)"
    assert engine._mtp is not None and engine._llama.llama_model_n_layer_nextn(engine._model) == 1


@pytest.mark.slow
def test_greedy_output_is_identical_with_mtp_and_counts_drafts(engine, draft_every_token):
    plain, u_plain = generate(engine, "off", user(PROMPT), max_tokens=200, ignore_eos=True, **GREEDY)
    cached_plain = engine.cached_tokens
    spec, u_spec = generate(engine, "mtp", user(PROMPT), max_tokens=200, ignore_eos=True, **GREEDY)
    assert spec == plain and u_spec.completion_tokens == u_plain.completion_tokens == 200
    assert engine.cached_tokens == cached_plain
    assert engine._llama.llama_memory_seq_pos_max(engine._mem, 0) == len(cached_plain) - 1
    assert u_plain.draft_tokens == 0
    # one draft per verified token after the first single decode; some of them held
    assert u_spec.draft_tokens + u_spec.accepted_draft_tokens >= 190, (u_spec.draft_tokens, u_spec.accepted_draft_tokens)
    assert 0 < u_spec.accepted_draft_tokens < u_spec.draft_tokens
    # the MTP KV cache never runs ahead of the model's
    assert engine._llama.llama_memory_seq_pos_max(engine._mtp.mem, 0) <= len(cached_plain) - 1


@pytest.mark.slow
def test_next_turn_reuses_the_cache_and_stays_identical(engine, draft_every_token):
    first, _ = generate(engine, "mtp", user(PROMPT), max_tokens=60, ignore_eos=True, **GREEDY)
    turn = user(PROMPT) + [{"role": "assistant", "content": first}, {"role": "user", "content": "And then?"}]
    spec, u_spec = generate(engine, "mtp", turn, fresh=False, max_tokens=60, ignore_eos=True, **GREEDY)
    assert u_spec.cached_prompt_tokens > 20 and u_spec.draft_tokens > 0
    plain, _ = generate(engine, "off", turn, max_tokens=60, ignore_eos=True, **GREEDY)
    assert spec == plain


@pytest.mark.slow
def test_seeded_sampling_keeps_the_distribution(engine, draft_every_token):
    """Temperature 1: token frequencies at each position over many seeds match plain decoding's."""
    runs, n_tokens = 16, 12
    sampling = {"temperature": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.0, "max_tokens": n_tokens}
    counts = {mode: [collections.Counter() for _ in range(n_tokens)] for mode in ("off", "mtp")}
    drafted = 0
    for seed in range(runs):
        for mode in ("off", "mtp"):
            engine.speculative = mode
            engine.reset_cache()
            request = ChatRequest(messages=user(PROMPT), sampling=SamplingParams(seed=seed, **sampling))
            tokens = []
            for item in engine.stream(request, ignore_eos=True):
                if isinstance(item, RawText):
                    tokens.append(item.text)
                elif isinstance(item, Finished) and mode == "mtp":
                    drafted += item.usage.draft_tokens
            for pos, piece in enumerate(tokens[:n_tokens]):
                counts[mode][pos][piece] += 1
    assert drafted >= runs * n_tokens // 2  # the MTP path ran
    for pos in range(n_tokens):
        a, b = counts["off"][pos], counts["mtp"][pos]
        total_variation = sum(abs(a[k] - b[k]) for k in a.keys() | b.keys()) / (2 * runs)
        assert total_variation <= 0.2, (pos, a, b)


@pytest.mark.slow
def test_mtp_on_a_file_without_nextn_drafts_ngrams_and_says_why(tiny_glm_path):
    from glmchat.engine.local import LocalEngine

    eng = LocalEngine.load(tiny_glm_path, n_ctx=1024, n_threads=1, flash_attn=False, speculative="mtp")
    try:
        spec = eng.info.details["speculative"]
        assert spec["runs"] == "ngram" and spec["nextn_layers"] == 0 and eng._mtp is None
        assert "no NextN" in spec["note"] and "n-grams instead" in spec["note"]
        text, usage = generate(eng, "mtp", user(PROMPT), max_tokens=20, ignore_eos=True, **GREEDY)
        assert usage.completion_tokens == 20 and text
    finally:
        eng.close()


def test_doctor_says_which_drafter_a_file_gets(nextn_path, tiny_glm_path):
    from glmchat import doctor

    rep = doctor.report(nextn_path, 2048)
    assert rep["speculative"]["runs"] == "mtp" and rep["model_files"][0]["nextn_layers"] == 1
    text = doctor.render(rep)
    assert "Speculative decoding: auto (runs: mtp + ngram (1 NextN layer))" in text and "NextN (MTP) layer" in text
    plain = doctor.report(tiny_glm_path, 2048)
    assert plain["speculative"]["runs"] == "ngram" and plain["model_files"][0]["nextn_layers"] == 0
    assert "NextN" not in doctor.render(plain)


def test_nextn_layers_finds_the_block_in_another_shard_of_a_split_file(tmp_path):
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(tmp_path / "m.gguf", arch="deepseek2", split_max_tensors=2)
    w.add_block_count(2)
    w.add_nextn_predict_layers(1)
    for name in ("token_embd.weight", "blk.0.attn_norm.weight", "blk.1.attn_norm.weight", "blk.1.nextn.eh_proj.weight"):
        w.add_tensor(name, np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    first = tmp_path / "m-00001-of-00002.gguf"
    assert first.exists() and "blk.1.nextn.eh_proj.weight" not in {t.name for t in read_gguf(first).tensors}
    assert nextn_layers(read_gguf(first)) == 1
    (tmp_path / "m-00002-of-00002.gguf").unlink()  # the shard with the block missing: no NextN to load
    assert nextn_layers(read_gguf(first)) == 0


@pytest.mark.slow
def test_auto_mixes_ngram_drafts_with_mtp_guesses_and_keeps_the_output(engine, monkeypatch):
    from glmchat.engine import local, mixed_draft

    made = []

    def spy(history, control, drafter):
        pair = mixed_draft.mixed(history, control, drafter)
        made.append(pair[0])
        return pair

    monkeypatch.setattr(local, "mixed", spy)
    plain, _ = generate(engine, "off", user("hello"), max_tokens=600, ignore_eos=True, **GREEDY)
    spec, usage = generate(engine, "auto", user("hello"), max_tokens=600, ignore_eos=True, **GREEDY)
    assert spec == plain and usage.completion_tokens == 600
    (control,) = made
    # greedy decoding of the random model falls into cycles: n-gram drafts hold there; MTP guesses elsewhere
    assert control.ngram.accepted > 0 and control.mtp.drafted > 0, (control.ngram.drafted, control.mtp.drafted)
    assert usage.draft_tokens == control.ngram.drafted + control.mtp.drafted
