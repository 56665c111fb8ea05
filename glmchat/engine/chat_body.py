"""The JSON body of an OpenAI-compatible `POST /chat/completions` for a `ChatRequest`."""

from __future__ import annotations

import json
from typing import Any

from glmchat.engine.base import ChatRequest


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the OpenAI API wants them: tool-call arguments as JSON strings.

    glmchat keeps arguments as mappings (the GLM template iterates them); `reasoning_content` on
    assistant messages is kept so servers can render preserved thinking.
    """
    out: list[dict[str, Any]] = []
    for msg in messages:
        m = dict(msg)
        calls = m.get("tool_calls")
        if calls:
            wired = []
            for call in calls:
                c = dict(call)
                fn = dict(c.get("function") or {})
                args = fn.get("arguments")
                if not isinstance(args, str):
                    fn["arguments"] = json.dumps(args if args is not None else {}, ensure_ascii=False)
                c["function"] = fn
                c.setdefault("type", "function")
                wired.append(c)
            m["tool_calls"] = wired
        out.append(m)
    return out


def build_body(request: ChatRequest, model: str, top_k_off: int = 0) -> dict[str, Any]:
    """The JSON body of POST /chat/completions for `request`.

    `top_k_off` is how the server spells "top-k off": 0 for the llama.cpp servers (llama-cpp-python
    rejects -1), -1 for SGLang (which rejects 0) and vLLM (which takes both).
    """
    s = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": s.temperature,
        "top_p": s.top_p,
        # extra sampling fields: vLLM, SGLang, llama-server and llama-cpp-python read these
        "min_p": s.min_p,
        "top_k": s.top_k if s.top_k > 0 else top_k_off,
        "repeat_penalty": s.repeat_penalty,  # llama.cpp's name
        "repetition_penalty": s.repeat_penalty,  # vLLM's and SGLang's name
        "chat_template_kwargs": {"enable_thinking": request.enable_thinking, "clear_thinking": request.clear_thinking},
    }
    if s.max_tokens is not None:
        body["max_tokens"] = s.max_tokens
    if s.seed is not None:
        body["seed"] = s.seed
    if request.tools:
        body["tools"] = request.tools
    if request.grammar:
        body["grammar"] = request.grammar  # llama-server / llama-cpp-python; others ignore it
    return body
