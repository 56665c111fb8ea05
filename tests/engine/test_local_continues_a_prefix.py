"""The local engine goes on after ChatRequest.assistant_prefix (the loop guard closes a thought so)."""

from __future__ import annotations

import pytest

from glmchat.engine.base import ChatRequest, RawText, SamplingParams, Started
from glmchat.glm import GlmStreamParser, close_thought
from tests.fixtures.tiny_glm import gbnf_literal


@pytest.mark.slow
def test_a_closed_thought_is_continued_with_the_answer(tiny_glm_path, tmp_path, monkeypatch):
    from glmchat.engine.local import LocalEngine

    monkeypatch.setenv("GLMCHAT_DATA_DIR", str(tmp_path))
    engine = LocalEngine.load(tiny_glm_path, n_ctx=1024, n_threads=1, verbose=False)
    try:
        plain = ChatRequest(messages=[{"role": "user", "content": "Hi"}], sampling=SamplingParams(max_tokens=40, seed=1))
        prefix = close_thought("I keep checking the same file.")
        request = ChatRequest(
            messages=plain.messages, sampling=plain.sampling, assistant_prefix=prefix,
            grammar="root ::= " + gbnf_literal("The answer."),
        )
        assert engine.render(request) == engine.render(plain) + prefix
        assert engine.count_tokens(request) > engine.count_tokens(plain)
        items = list(engine.stream(request))
        started = items[0]
        assert isinstance(started, Started) and started.in_thinking is False  # the prompt ends after the thought
        parser = GlmStreamParser(thinking=started.in_thinking)
        events = [e for i in items if isinstance(i, RawText) for e in parser.feed(i.text)] + parser.finish()
        assert "".join(e.text for e in events) == "The answer." and {type(e).__name__ for e in events} == {"Answer"}
    finally:
        engine.close()
