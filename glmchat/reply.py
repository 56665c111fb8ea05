"""One generation of the model as it streams, and the assistant message it leaves behind.

`ChatSession` feeds each engine item to a `StreamedReply`, which turns it into session events
(through the GLM parser when the engine hands back raw text), keeps the answer, the thinking and
the tool calls, and mirrors them into the store's `StreamWriter` so a crash loses at most about a
second. When the stream ends, `message()` is the assistant turn in chat form and `save()` finishes
its stored row; `tool_message()` is the tool turn that answers one of its calls.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from glmchat.engine.base import AnswerText, Finished, PromptProgress, RawText, ReasoningText, Started, StreamItem, ToolCallDelta, Usage
from glmchat.errors import GlmchatError
from glmchat.glm import Answer, GlmStreamParser, IncompleteToolCall, Thinking, ToolCall
from glmchat.session_events import PromptProgressed, SessionEvent, TurnStarted


def call_dict(call: ToolCall) -> dict[str, Any]:
    """A tool call as events and the store's streaming row show it: name and arguments."""
    return {"name": call.name, "arguments": call.arguments}


def tool_message(messages: list[dict[str, Any]], call: ToolCall, output: str) -> dict[str, Any]:
    """The tool turn carrying `output` back, under the id of the call it answers."""
    idx = sum(1 for m in messages if m["role"] == "tool")
    return {"role": "tool", "content": output, "name": call.name, "tool_call_id": _pending_call_id(messages, call.name) or f"call_{idx}"}


def _pending_call_id(messages: list[dict[str, Any]], name: str) -> str | None:
    """The id of the latest assistant turn's first unanswered call to `name`."""
    for m in reversed(messages):
        if m["role"] == "assistant":
            answered = {x.get("tool_call_id") for x in messages if x["role"] == "tool"}
            for c in m.get("tool_calls", []):
                if c["function"]["name"] == name and c["id"] not in answered:
                    return c["id"]
            return None
    return None


class StreamedReply:
    """The answer, thinking and tool calls of one generation, collected while they stream."""

    def __init__(self, tools: list[dict[str, Any]] | None, round_no: int, writer: Any | None = None) -> None:
        self.tools = tools  # the request's tool schemas: the parser types tool arguments by them
        self.round_no = round_no
        self.writer = writer  # glmchat.store.StreamWriter, or None without a store
        self.parser: GlmStreamParser | None = None
        self.usage = Usage()
        self.calls: list[ToolCall | IncompleteToolCall] = []
        self._answer: list[str] = []
        self._thinking: list[str] = []
        # a server that splits reasoning off still sends a <think> after the answer began as content
        self._content: GlmStreamParser | None = None
        self.stop_reason: str | None = None  # why glmchat stopped it (the loop guard): stored in meta
        self.thought_closed = False  # the loop guard closed a looping thought and the model went on
        self._continuing = False  # the next Started begins that continuation: same message, no new turn
        self._completion_before = 0  # tokens generated before the thought was closed

    def continue_after_thought(self) -> None:
        """The next stream continues this message after its thought was closed (glmchat.loop_guard)."""
        self._continuing = self.thought_closed = True
        self._completion_before = self.usage.completion_tokens

    # ---- while streaming ---------------------------------------------------------------------------

    def feed(self, item: StreamItem) -> Iterator[SessionEvent]:
        """The events one engine item makes; `Finished` only records the usage."""
        if isinstance(item, RawText):
            if self.parser is None:
                self.parser = GlmStreamParser(tools=self.tools, thinking=False)
            yield from self._take(self.parser.feed(item.text))
        elif isinstance(item, Started):
            self.parser = GlmStreamParser(tools=self.tools, thinking=item.in_thinking)
            if self._continuing:
                self._continuing = False
                self.parser.thought_seen = bool(self._thinking)
            else:
                yield TurnStarted(item.prompt_tokens, item.cached_prompt_tokens, self.round_no)
        elif isinstance(item, PromptProgress):
            yield PromptProgressed(item.done, item.total, item.cached, item.elapsed)
        elif isinstance(item, ReasoningText):
            yield from self._take([Thinking(item.text)])
        elif isinstance(item, AnswerText):
            if self._content is None:
                self._content = GlmStreamParser(thinking=False, calls=False)
            self._content.thought_seen = self._content.thought_seen or bool(self._thinking)
            yield from self._take(self._content.feed(item.text))
        elif isinstance(item, ToolCallDelta):
            yield from self._take([ToolCall(item.name, item.arguments, "")])
        elif isinstance(item, Finished):
            self.usage = item.usage
            if self.thought_closed:  # the tokens before the thought was closed count too
                self.usage.completion_tokens += self._completion_before

    def end(self) -> Iterator[SessionEvent]:
        """What the parser still held back when the stream stopped (for any reason)."""
        if self.parser is not None:
            yield from self._take(self.parser.finish())
        if self._content is not None:
            yield from self._take(self._content.finish())
            self._content = None

    def _take(self, events: Iterable[Thinking | Answer | ToolCall | IncompleteToolCall]) -> Iterator[SessionEvent]:
        writer = self.writer
        for ev in events:
            if isinstance(ev, Thinking):
                self._thinking.append(ev.text)
                if writer:
                    writer.append_reasoning(ev.text)
            elif isinstance(ev, Answer):
                self._answer.append(ev.text)
                if writer:
                    writer.append_answer(ev.text)
            elif isinstance(ev, (ToolCall, IncompleteToolCall)):
                self.calls.append(ev)
                if writer and isinstance(ev, ToolCall):
                    writer.set_tool_calls([call_dict(c) for c in self.complete_calls])
            yield ev

    # ---- when it stopped ---------------------------------------------------------------------------

    @property
    def answer(self) -> str:
        return "".join(self._answer)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    @property
    def complete_calls(self) -> list[ToolCall]:
        return [c for c in self.calls if isinstance(c, ToolCall)]

    def status(self, error: GlmchatError | None, cancelled: bool) -> str:
        """complete | cancelled | error | length | stopped (the loop guard stopped it)."""
        if error is not None:
            return "error"
        if self.stop_reason is not None:
            return "stopped"
        if self.usage.stop_reason == "cancelled" or cancelled:
            return "cancelled"
        if self.usage.stop_reason == "length":
            return "length"
        return "complete"

    def message(self) -> dict[str, Any]:
        """The assistant turn in chat form; tool calls get ids `call_<round>_<i>`."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.answer}
        if self._thinking:
            msg["reasoning_content"] = self.thinking
        calls = self.complete_calls
        if calls:
            msg["tool_calls"] = [
                {"id": f"call_{self.round_no}_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for i, c in enumerate(calls)
            ]
        return msg

    def save(self, msg: dict[str, Any], status: str, error: GlmchatError | None) -> int | None:
        """Finish the stored row of `msg` (status, usage, meta); its id, or None without a store."""
        if self.writer is None:
            return None
        meta: dict[str, Any] = {}
        incomplete = [c for c in self.calls if isinstance(c, IncompleteToolCall)]
        if incomplete:
            meta["incomplete_tool_calls"] = [c.raw for c in incomplete]
        if error is not None:
            meta["error"] = str(error)
        if status == "length":
            meta["stop_reason"] = "length"
        if self.stop_reason is not None:
            meta["stop_reason"] = self.stop_reason
        if self.thought_closed:
            meta["thought_closed"] = "repeating"
        if "tool_calls" in msg:
            self.writer.set_tool_calls(
                [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
            )
        store_status = {"length": "complete", "stopped": "cancelled"}.get(status, status)
        finished = self.writer.finish(status=store_status, usage=self.usage.to_dict(), meta=meta or None)
        return getattr(finished, "id", None)
