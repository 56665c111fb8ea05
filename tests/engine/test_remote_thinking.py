"""Whether a remote model thinks comes from what the server says, never from a folder name.

Scripted servers shaped as llama-server (GET /props with its chat template), llama-cpp-python (no
/props, the model's file path as its id), vLLM with and without a reasoning parser, and a server
with neither /props nor /v1/models. Each stream goes through `StreamedReply`, as in a session, so
the tests see what lands in the thinking pane and what in the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glmchat.engine.base import ChatRequest, Started
from glmchat.engine.remote import RemoteEngine
from glmchat.glm import Answer, Thinking, is_glm_model
from glmchat.reply import StreamedReply
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

GLM_TEMPLATE = (Path(__file__).parents[1] / "fixtures" / "glm47_chat_template.jinja").read_text()
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SMOL_IN_GLM_FOLDER = "/models/glm-stuff/SmolLM2-135M-Instruct-Q8_0.gguf"


def llama_cpp_python(model_id: str) -> list[dict[str, Any]]:
    return [{"id": model_id, "object": "model", "owned_by": "me", "permissions": []}]


def llama_server(model_id: str) -> list[dict[str, Any]]:
    return [{"id": model_id, "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx_train": 8192}}]


def turn(engine: RemoteEngine, enable_thinking: bool = True) -> tuple[Started, str, str, list[Any]]:
    """One generation as a session sees it: (Started, thinking, answer, the parser events in order)."""
    reply = StreamedReply(tools=None, round_no=1)
    events: list[Any] = []
    started = None
    request = ChatRequest(messages=[{"role": "user", "content": "Hi"}], enable_thinking=enable_thinking)
    for item in engine.stream(request):
        if isinstance(item, Started):
            started = item
        events += [e for e in reply.feed(item) if isinstance(e, (Thinking, Answer))]
    events += list(reply.end())
    assert started is not None
    return started, reply.thinking, reply.answer, events


def test_glm_template_in_props_splits_thinking_from_answer():
    """llama-server serving a file whose name says nothing: its chat template opens <think>."""
    props = {"chat_template": GLM_TEMPLATE, "model_path": "/srv/models/model.gguf", "total_slots": 1}
    with ScriptedServer(models=llama_server("/srv/models/model.gguf"), props=props) as s:
        s.reply(SSE(vllm_chunks(content=["Let me ", "think.</th", "ink>Hello", " there."], model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is True and engine.info.details["thinking_from"] == "chat template"
        started, thinking, answer, events = turn(engine)
    assert started.in_thinking is True
    assert thinking == "Let me think." and answer == "Hello there."
    assert isinstance(events[0], Thinking)  # the reasoning streams live, as it arrives


def test_non_thinking_template_in_props_streams_the_answer_even_from_a_glm_folder():
    props = {"chat_template": CHATML_TEMPLATE}
    with ScriptedServer(models=llama_server(SMOL_IN_GLM_FOLDER), props=props) as s:
        s.reply(SSE(vllm_chunks(content=["Hello! ", "I am SmolLM2."], model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is False
        started, thinking, answer, _ = turn(engine)
    assert started.in_thinking is False
    assert thinking == "" and answer == "Hello! I am SmolLM2."


@pytest.mark.parametrize("enable_thinking", [True, False])
def test_smollm2_served_from_a_glm_folder_is_all_answer(enable_thinking):
    """llama-cpp-python names the model by its path; a folder called glm-stuff says nothing."""
    with ScriptedServer(models=llama_cpp_python(SMOL_IN_GLM_FOLDER)) as s:
        s.reply(*[SSE(vllm_chunks(content=["Hello! ", "How can I help?"], model="x")) for _ in range(2)])
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is False
        for _ in range(2):
            started, thinking, answer, events = turn(engine, enable_thinking)
            assert started.in_thinking is not True
            assert thinking == "" and answer == "Hello! How can I help?"
            assert all(isinstance(e, Answer) for e in events)
        assert engine.info.thinking is False


def test_after_a_complete_answer_without_think_end_the_answer_streams_live():
    """Not known at first (held until the end); the stream showed no </think>, so the next turn streams."""
    with ScriptedServer(models=llama_cpp_python("/models/my-model.gguf")) as s:
        s.reply(SSE(vllm_chunks(content=["one"], model="x")), SSE(vllm_chunks(content=["two"], model="x")))
        engine = RemoteEngine(s.base_url)
        first, _, answer, _ = turn(engine)
        assert first.in_thinking is None and answer == "one"
        second, _, answer, _ = turn(engine)
        assert second.in_thinking is False and answer == "two"
        assert engine.info.thinking is False and engine.info.details["thinking_from"] == "stream"


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_deltas_are_thinking_whatever_the_model_is_called(key):
    with ScriptedServer(models=llama_cpp_python("/models/custom-name.gguf")) as s:
        s.reply(SSE(vllm_chunks(reasoning=["Weighing ", "it."], content=["Yes."], reasoning_key=key, model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is False  # nothing said so yet
        started, thinking, answer, _ = turn(engine)
        assert started.in_thinking is False  # the server splits: its content is answer
        assert thinking == "Weighing it." and answer == "Yes."
        assert engine.info.thinking is True  # the model was seen reasoning


def test_think_end_in_the_stream_without_props_splits_and_is_remembered():
    """vLLM without a reasoning parser, served under a name that says nothing; the prompt opened <think>."""
    with ScriptedServer(models=[{"id": "prod-chat", "object": "model", "owned_by": "vllm"}]) as s:
        s.reply(
            SSE(vllm_chunks(content=["The user greets.", " Reply briefly.</", "think>Hi", "!"], model="prod-chat")),
            SSE(vllm_chunks(content=["Short.</think>Again."], model="prod-chat")),
        )
        engine = RemoteEngine(s.base_url)
        started, thinking, answer, events = turn(engine)
        assert started.in_thinking is None
        assert thinking == "The user greets. Reply briefly." and answer == "Hi!"
        assert [type(e) for e in events] == [Thinking, Answer, Answer]  # nothing shown as answer before </think>
        assert engine.info.thinking is True
        started, thinking, answer, _ = turn(engine)  # now known: the reasoning streams live
        assert started.in_thinking is True and thinking == "Short." and answer == "Again."


def test_server_without_props_or_models_list_works_and_an_answer_stays_an_answer():
    with ScriptedServer(models=llama_cpp_python("glm-dir/thing"), list_models=False, strict_model=False) as s:
        s.reply(SSE(vllm_chunks(content=["Plain ", "answer."], model="x")))
        engine = RemoteEngine(s.base_url, model="/data/glm/thing.gguf")
        assert engine.info.thinking is False and engine.info.details["thinking_from"] == "unknown"
        started, thinking, answer, _ = turn(engine)
    assert started.in_thinking is None
    assert thinking == "" and answer == "Plain answer."


def test_a_name_of_a_thinking_glm_is_corrected_by_the_stream():
    """The served id names GLM-4.7 but the stream closes no thinking block: later turns are answer."""
    with ScriptedServer(models=llama_cpp_python("GLM-4.7-Flash")) as s:
        s.reply(SSE(vllm_chunks(content=["All answer."], model="x")), SSE(vllm_chunks(content=["Still answer."], model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is True and engine.info.details["thinking_from"] == "model name"
        turn(engine)
        started, thinking, answer, _ = turn(engine)
        assert started.in_thinking is False and thinking == "" and answer == "Still answer."
        assert engine.info.thinking is False


@pytest.mark.parametrize(
    "model_id, thinks",
    [
        ("/models/glm-stuff/SmolLM2.gguf", False),
        ("glmchat-smollm2-q8_0.gguf", False),  # "glm" inside another word
        ("THUDM/glm-4-9b-chat", False),  # a GLM that does not think
        ("zai-org/GLM-4.7-Flash", True),
        ("glm-4.5-air", True),
        ("/home/u/GLM-4.6-UD-Q4_K_XL.gguf", True),
        ("THUDM/GLM-Z1-9B-0414", True),
        ("glm-4.7-flash:latest", True),  # Ollama's tag
    ],
)
def test_only_the_served_name_of_a_thinking_glm_counts(model_id, thinks):
    assert is_glm_model(model_id) is thinks


def bos_and_chars(special: set[str]):
    """A tokenizer as llama-cpp-python's /extras/tokenize answers: BOS, then a special token whole, else per character."""

    def tokenize(text: str) -> list[int]:
        return [1] + ([2] if text in special else [ord(c) for c in text])

    return tokenize


def test_a_vocabulary_without_think_end_means_no_thinking_even_under_a_glm_name():
    with ScriptedServer(models=llama_cpp_python("/models/GLM-4.7-Flash.gguf"), tokenize=bos_and_chars(set())) as s:
        s.reply(SSE(vllm_chunks(content=["Hello", " there."], model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.thinking is False and engine.info.details["thinking_from"] == "vocabulary"
        started, thinking, answer, events = turn(engine)
    assert started.in_thinking is False and thinking == "" and answer == "Hello there."
    assert len(events) == 2  # streamed live, piece by piece


def test_a_vocabulary_with_think_end_leaves_it_to_the_name_or_the_stream():
    tokenize = bos_and_chars({"</think>"})
    with ScriptedServer(models=llama_cpp_python("/models/model-q4.gguf"), tokenize=tokenize) as s:
        s.reply(SSE(vllm_chunks(content=["Hm.</think>", "Yes."], model="x")))
        engine = RemoteEngine(s.base_url)
        assert engine.info.details["thinking_from"] == "unknown"
        started, thinking, answer, _ = turn(engine)
        assert started.in_thinking is None and thinking == "Hm." and answer == "Yes."
    with ScriptedServer(models=llama_cpp_python("/models/GLM-4.7-Flash-Q4_K_M.gguf"), tokenize=tokenize) as s:
        assert RemoteEngine(s.base_url).info.details["thinking_from"] == "model name"
