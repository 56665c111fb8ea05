"""OpenAI chat-completions requests into `ChatRequest`s, and engine output back into OpenAI shapes.

`parse_request` checks a request body (hostile: every field is validated, `BadRequest` names the
first bad one) and makes the `ChatRequest` with the profile's sampling values for what the body leaves
out. `OutputSplitter` runs the engine's items through glmchat's GLM parser (via `StreamedReply`) and
hands back `Delta`s: reasoning, content (cut at the request's `stop` strings) and complete tool calls.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from glmchat.engine.base import ChatRequest, SamplingParams, StreamItem, Usage
from glmchat.glm import Answer, Thinking, ToolCall
from glmchat.reply import StreamedReply
from glmchat.request_builder import thinking_flags
from glmchat.settings import PROFILE_KEYS, Settings

ROLES = {"system", "user", "assistant", "tool"}
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "seed")


class BadRequest(Exception):
    """A request body the server refuses (400), with the field at fault when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass
class Parsed:
    request: ChatRequest
    stream: bool
    include_usage: bool
    stop: list[str]


def _text(content: Any, where: str) -> str:
    """Message content as text: a string, None, or a list of {"type": "text", "text": ...} parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise BadRequest("Only text content parts are supported.", where)
            parts.append(part["text"])
        return "".join(parts)
    raise BadRequest("content must be a string or a list of text parts.", where)


def _tool_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise BadRequest("tool_calls must be a list.", where)
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest("Each tool call needs function.name.", f"{where}[{i}]")
        args = fn.get("arguments", "{}")
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except ValueError:
                raise BadRequest("Tool call arguments must be a JSON object.", f"{where}[{i}].function.arguments") from None
        if not isinstance(args, dict):
            raise BadRequest("Tool call arguments must be a JSON object.", f"{where}[{i}].function.arguments")
        cid = call.get("id")
        out.append({"id": cid if isinstance(cid, str) else f"call_{i}", "type": "function", "function": {"name": fn["name"], "arguments": args}})
    return out


def _messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list.", "messages")
    out = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest("Each message needs a role: system, user, assistant or tool.", where)
        msg: dict[str, Any] = {"role": m["role"], "content": _text(m.get("content"), f"{where}.content")}
        if m["role"] == "assistant":
            reasoning = m.get("reasoning_content", m.get("reasoning"))
            if isinstance(reasoning, str) and reasoning:
                msg["reasoning_content"] = reasoning
            if m.get("tool_calls"):
                msg["tool_calls"] = _tool_calls(m["tool_calls"], f"{where}.tool_calls")
        if m["role"] == "tool" and isinstance(m.get("tool_call_id"), str):
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    return out


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools, choice = body.get("tools"), body.get("tool_choice", "auto")
    if choice not in ("auto", "none", None):
        raise BadRequest('tool_choice must be "auto" or "none".', "tool_choice")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise BadRequest("tools must be a list.", "tools")
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) and t.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise BadRequest("Each tool must be {type: function, function: {name, parameters}}.", f"tools[{i}]")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            raise BadRequest("function.parameters must be a JSON schema object.", f"tools[{i}].function.parameters")
    return tools if (tools and choice != "none") else None


def _sampling(body: dict[str, Any], base: SamplingParams) -> SamplingParams:
    changes: dict[str, Any] = {}
    for key in SAMPLING_FIELDS:
        value = body.get(key)
        if value is None:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and key in ("top_k", "seed"):
            ok = float(value).is_integer()
            value = int(value) if ok else value
        problem = PROFILE_KEYS[key](value) if ok else "must be a number"
        if problem:
            raise BadRequest(f"{key} {problem}.", key)
        changes[key] = value
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise BadRequest("max_tokens must be a positive integer.", "max_tokens")
        changes["max_tokens"] = limit
    return replace(base, **changes)


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise BadRequest("stop must be a non-empty string or a list of up to 4 of them.", "stop")
    return stops


def _flag(kwargs: dict[str, Any], key: str, default: bool) -> bool:
    value = kwargs.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"chat_template_kwargs.{key} must be true or false.", "chat_template_kwargs")
    return value


def parse_request(body: Any, settings: Settings, profile: str | None = None) -> Parsed:
    """The `Parsed` request of a chat-completions body; BadRequest when any part of it is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if not isinstance(body.get("model", ""), str):
        raise BadRequest("model must be a string.", "model")
    n = body.get("n", 1)
    if n != 1:
        raise BadRequest("Only n = 1 is supported.", "n")
    kwargs = body.get("chat_template_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise BadRequest("chat_template_kwargs must be an object.", "chat_template_kwargs")
    think, clear = thinking_flags(settings.chat.thinking)
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise BadRequest("stream must be true or false, stream_options an object.", "stream")
    request = ChatRequest(
        messages=_messages(body.get("messages")),
        sampling=_sampling(body, settings.profile(profile)),
        tools=_tools(body),
        enable_thinking=_flag(kwargs, "enable_thinking", think),
        clear_thinking=_flag(kwargs, "clear_thinking", clear),
    )
    return Parsed(request, stream, options.get("include_usage") is True, _stop(body.get("stop")))


# ---- output ---------------------------------------------------------------------------------------


@dataclass
class Delta:
    kind: str  # "reasoning" | "content" | "tool_call"
    text: str = ""
    call: dict[str, Any] | None = None  # OpenAI tool call, arguments as a JSON string


class OutputSplitter:
    """Engine items in, `Delta`s out: GLM text split by glmchat's parser, content cut at `stop`."""

    def __init__(self, tools: list[dict[str, Any]] | None, stop: list[str]) -> None:
        self.reply = StreamedReply(tools, 0)
        self.stop = stop
        self.stopped = False  # a stop string was met: the caller cancels the generation
        self.calls = 0
        self._held = ""  # content that may be the start of a stop string
        self._content_seen = ""

    def feed(self, item: StreamItem) -> list[Delta]:
        return self._deltas(self.reply.feed(item))

    def finish(self) -> list[Delta]:
        out = self._deltas(self.reply.end())
        if self._held and not self.stopped:
            out.append(Delta("content", self._held))
        self._held = ""
        return out

    @property
    def usage(self) -> Usage:
        return self.reply.usage

    def finish_reason(self) -> str:
        if self.calls and not self.stopped:
            return "tool_calls"
        if self.usage.stop_reason == "length" and not self.stopped:
            return "length"
        return "stop"

    def _deltas(self, events: Iterable[Any]) -> list[Delta]:
        out: list[Delta] = []
        for ev in events:
            if self.stopped:
                break
            if isinstance(ev, Thinking) and ev.text:
                out.append(Delta("reasoning", ev.text))
            elif isinstance(ev, Answer) and ev.text:
                text = self._cut(ev.text)
                if text:
                    out.append(Delta("content", text))
            elif isinstance(ev, ToolCall):
                args = json.dumps(ev.arguments, ensure_ascii=False)
                call = {"index": self.calls, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                        "function": {"name": ev.name, "arguments": args}}
                self.calls += 1
                out.append(Delta("tool_call", call=call))
        return out

    def _cut(self, text: str) -> str:
        """`text` up to a stop string (then `stopped`), holding back a tail that may begin one."""
        if not self.stop:
            return text
        s = self._held + text
        hits = [i for i in (s.find(x) for x in self.stop) if i >= 0]
        if hits:
            self.stopped, self._held = True, ""
            return s[: min(hits)]
        keep = max(len(x) for x in self.stop) - 1
        cut = len(s)
        for k in range(min(keep, len(s)), 0, -1):
            if any(x.startswith(s[-k:]) for x in self.stop):
                cut = len(s) - k
                break
        self._held = s[cut:]
        return s[:cut]


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens}}


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}
