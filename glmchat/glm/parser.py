"""GlmStreamParser: GLM-4.7 raw output, in chunks of any size → Thinking / Answer / ToolCall events.

The model writes (its prompt already ended in ``<think>``)::

    reasoning</think>answer<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>...</tool_call>...

Thinking and answer text go out as soon as they arrive; only a suffix that could be the start of a
tag is held back. A tool call is emitted once its ``</tool_call>`` arrives, with its arguments typed
by the tool's JSON schema. The result is the same however the text is cut into chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Union

from glmchat.glm.code_spans import CodeContext

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
KEY_OPEN = "<arg_key>"
KEY_CLOSE = "</arg_key>"
VALUE_OPEN = "<arg_value>"
VALUE_CLOSE = "</arg_value>"

_WS = " \t\r\n\f\v"


@dataclass(slots=True)
class Thinking:
    """Reasoning text (inside the ``<think>`` block)."""

    text: str


@dataclass(slots=True)
class Answer:
    """Visible answer text."""

    text: str


@dataclass(slots=True)
class ToolCall:
    """A complete tool call; `raw` is its text from ``<tool_call>`` to ``</tool_call>``."""

    name: str
    arguments: dict[str, Any]
    raw: str


@dataclass(slots=True)
class IncompleteToolCall:
    """A call that was cut off or malformed: shown to the user, never executed."""

    name: str | None
    raw: str


Event = Union[Thinking, Answer, ToolCall, IncompleteToolCall]

_THINK, _ANSWER, _CALL, _UNDECIDED = 0, 1, 2, 3


def _partial_len(s: str, tag: str) -> int:
    """Length of the longest suffix of `s` that is a proper prefix of `tag` (0 if none)."""
    i = s.rfind("<", max(0, len(s) - len(tag) + 1))
    while i >= 0:
        if tag.startswith(s[i:]):
            return len(s) - i
        i = s.rfind("<", max(0, len(s) - len(tag) + 1), i)
    return 0


def _schema_types(schema: Any) -> set[str]:
    """The JSON types a parameter schema allows ('any' when it does not say)."""
    if not isinstance(schema, dict):
        return {"any"}
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list) and t:
        return {x for x in t if isinstance(x, str)} or {"any"}
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        out: set[str] = set()
        for b in branches:
            out |= _schema_types(b)
        return out
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return {"string"}
    return {"any"}


def tool_param_kinds(tools: Iterable[Any] | None) -> dict[str, dict[str, bool]]:
    """tool name → {parameter → True when its value is kept as a raw string}."""
    out: dict[str, dict[str, bool]] = {}
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        name = fn.get("name")
        if not isinstance(name, str):
            continue
        params = fn.get("parameters") or {}
        props = params.get("properties") if isinstance(params, dict) else None
        kinds: dict[str, bool] = {}
        if isinstance(props, dict):
            for key, schema in props.items():
                types = _schema_types(schema) - {"null"}
                kinds[str(key)] = types == {"string"}
        out[name] = kinds
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_or_raw(value: str) -> Any:
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        return value


def _skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def _valid_name(name: str) -> bool:
    return bool(name) and "<" not in name and ">" not in name and not any(c in _WS for c in name)


def parse_call_body(body: str, kinds: dict[str, dict[str, bool]]) -> tuple[str | None, dict[str, Any] | None]:
    """Split the text between ``<tool_call>`` and ``</tool_call>`` into (name, arguments).

    Returns arguments None when the body is malformed (name None when the name is unusable).
    """
    name, args, _ = _parse_body(body, kinds)
    return name, args


def _parse_body(body: str, kinds: dict[str, dict[str, bool]]) -> tuple[str | None, dict[str, Any] | None, bool]:
    """(name, arguments or None when malformed, whether the body ends inside an open value)."""
    first = body.find(KEY_OPEN)
    name = (body if first < 0 else body[:first]).strip(_WS)
    if not _valid_name(name):
        return None, None, False
    if first < 0:
        return name, {}, False
    param_kinds = kinds.get(name, {})
    args: dict[str, Any] = {}
    pos, n = first, len(body)
    while True:
        pos = _skip_ws(body, pos)
        if pos == n:
            return name, args, False
        if not body.startswith(KEY_OPEN, pos):
            return name, None, False
        kend = body.find(KEY_CLOSE, pos + len(KEY_OPEN))
        if kend < 0:
            return name, None, False
        key = body[pos + len(KEY_OPEN) : kend].strip(_WS)
        pos = _skip_ws(body, kend + len(KEY_CLOSE))
        if not key or not body.startswith(VALUE_OPEN, pos):
            return name, None, False
        vstart = pos + len(VALUE_OPEN)
        # The value ends at the first </arg_value> followed by another key or the end of the body,
        # so a value may itself contain the tag text (e.g. a file about this very format).
        search = vstart
        while True:
            vend = body.find(VALUE_CLOSE, search)
            if vend < 0:
                return name, None, True
            after = _skip_ws(body, vend + len(VALUE_CLOSE))
            if after == n or body.startswith(KEY_OPEN, after):
                break
            search = vend + 1
        raw_value = body[vstart:vend]
        if param_kinds.get(key, False):
            args[key] = raw_value
        else:
            args[key] = _json_or_raw(raw_value)
        pos = vend + len(VALUE_CLOSE)


def _merge(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        if out and type(ev) is type(out[-1]) and isinstance(ev, (Thinking, Answer)):
            out[-1] = type(ev)(out[-1].text + ev.text)
        else:
            out.append(ev)
    return out


class GlmStreamParser:
    """Feed raw model text in chunks; get events. Call `finish()` once at the end of the stream.

    `thinking` says whether the prompt ended inside an open ``<think>`` block. With thinking off a
    ``</think>`` at the very start is dropped, and a ``<think>`` at the very start opens a thinking
    block (the model chose to reason on its own).

    `thinking=None`: not known (a remote server that did not say). The text is held back until the
    output shows what it is: a ``</think>`` makes everything before it thinking (the prompt had opened
    the block), a ``<think>`` at the very start opens one, a ``<tool_call>`` or the end of the stream
    makes it answer. So a model that does not think never has its answer taken for thinking.

    A ``<think>…</think>`` after the answer began (GLM-4.7-Flash does this at times) is a further
    thought: Thinking events, set apart from the earlier thought by a blank line; a ``<think>`` inside
    a Markdown code span or fence stays answer text. `calls=False` leaves ``<tool_call>`` as text.
    """

    def __init__(self, tools: Iterable[Any] | None = None, thinking: bool | None = True, *, calls: bool = True) -> None:
        self._kinds = tool_param_kinds(tools)
        self._calls = calls  # False: ``<tool_call>`` is answer text (a server's tool parser took the calls)
        self._code = CodeContext()  # Markdown code in the answer so far: a <think> there is text
        self.thought_seen = False  # a thought was emitted (a further one is set apart from it)
        self._mode = _UNDECIDED if thinking is None else _THINK if thinking else _ANSWER
        self._held = ""  # text not emitted yet because it could start a tag
        self._start = True  # nothing decided yet about the very start of the output
        self._after_call = False  # in answer mode after a call: whitespace-only text is dropped
        self._parts: list[str] = []  # tool call text after <tool_call>
        self._tail = ""  # its last len(CALL_CLOSE) - 1 characters
        self._search_from = 0  # where to look for </tool_call> in the joined call text
        self._plain: type | None = None  # fast path: the event type for '<'-free text

    # ---- public ----------------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        """Events that `text` completes, adjacent same-kind text merged."""
        plain = self._plain
        if plain is not None:
            if "<" not in text:
                if plain is Answer:
                    self._code.feed(text)
                return [plain(text)] if text else []
        elif self._mode == _CALL and ">" not in text:
            self._parts.append(text)
            self._tail = (self._tail + text)[-11:]  # len(CALL_CLOSE) - 1
            return []
        elif self._mode == _UNDECIDED and not self._start and ">" not in text:  # no tag can end in it
            self._parts.append(text)
            self._tail = (self._tail + text)[-10:]  # len(CALL_OPEN) - 1
            return []
        events: list[Event] = []
        self._run(text, events)
        if not self.thought_seen:
            self.thought_seen = any(isinstance(ev, Thinking) for ev in events)
        return _merge(events) if len(events) > 1 else events

    def finish(self) -> list[Event]:
        """Flush what was held back; a call still open becomes an `IncompleteToolCall`."""
        events: list[Event] = []
        held, self._held = self._held, ""
        if self._mode == _THINK:
            if held:
                events.append(Thinking(held))
        elif self._mode == _ANSWER:
            if held and not (self._after_call and not held.strip(_WS)):
                events.append(Answer(held))
        elif self._mode == _UNDECIDED:  # no </think> came: it was all answer
            text = held + "".join(self._parts)
            self._parts, self._tail, self._mode = [], "", _ANSWER
            if text:
                events.append(Answer(text))
        else:
            body = "".join(self._parts)
            self._parts = []
            first = body.find(KEY_OPEN)
            name = body[:first].strip(_WS) if first >= 0 else None
            events.append(IncompleteToolCall(name if name and _valid_name(name) else None, CALL_OPEN + body))
            self._mode = _ANSWER
        self._plain = None
        return events

    # ---- internals -------------------------------------------------------------------------------

    def _run(self, text: str, events: list[Event]) -> None:
        s = self._held + text if self._held else text
        self._held = ""
        self._plain = None
        while s:
            if self._mode == _CALL:
                s = self._feed_call(s, events)
                continue
            if self._start:
                if s.startswith(THINK_OPEN):
                    self._start = False
                    self._mode = _THINK
                    s = s[len(THINK_OPEN) :]
                    continue
                if self._mode == _ANSWER and s.startswith(THINK_CLOSE):
                    self._start = False
                    s = s[len(THINK_CLOSE) :]
                    continue
                if THINK_OPEN.startswith(s) or (self._mode == _ANSWER and THINK_CLOSE.startswith(s)):
                    self._held = s
                    return
                self._start = False
            if self._mode == _UNDECIDED:
                s = self._feed_undecided(s, events)
                continue
            if self._mode == _THINK:
                idx = s.find(THINK_CLOSE)
                if idx >= 0:
                    if idx:
                        events.append(Thinking(s[:idx]))
                    self._mode = _ANSWER
                    s = s[idx + len(THINK_CLOSE) :]
                    continue
                keep = _partial_len(s, THINK_CLOSE)
                if keep < len(s):
                    events.append(Thinking(s[: len(s) - keep]))
                if keep:
                    self._held = s[len(s) - keep :]
                else:
                    self._plain = Thinking
                return
            s = self._feed_answer(s, events)

    def _feed_answer(self, s: str, events: list[Event]) -> str:
        """Answer text up to the next tag; returns the text after it ("" when all was used or held).

        A ``<think>`` outside Markdown code opens a further thought (GLM-4.7-Flash sometimes thinks
        again after its answer began); inside a code span or fence it is answer text.
        """
        if self._after_call:
            stripped = s.lstrip(_WS)
            if not stripped or (len(stripped) < len(CALL_OPEN) and CALL_OPEN.startswith(stripped)):
                self._held = s
                return ""
            if stripped.startswith(CALL_OPEN):
                s = stripped
            else:
                self._after_call = False
        code, pos = self._code, 0  # s[:pos] is answer text already fed to `code`
        while True:
            call = s.find(CALL_OPEN, pos) if self._calls else -1
            think = s.find(THINK_OPEN, pos)
            if think >= 0 and (call < 0 or think < call):
                code.feed(s[pos:think])
                pos = think + len(THINK_OPEN)
                if code.in_code():
                    code.feed(THINK_OPEN)
                    continue
                if think:
                    events.append(Answer(s[:think]))
                self._mode = _THINK
                if self.thought_seen or any(isinstance(ev, Thinking) for ev in events):
                    events.append(Thinking("\n\n"))  # a further thought, set apart from the last one
                return s[pos:]
            if call >= 0:
                code.feed(s[pos:call])
                if call:
                    events.append(Answer(s[:call]))
                self._mode = _CALL
                self._parts = []
                self._tail = ""
                self._search_from = 0
                return s[call + len(CALL_OPEN) :]
            keep = max(_partial_len(s, CALL_OPEN) if self._calls else 0, _partial_len(s, THINK_OPEN))
            keep = min(keep, len(s) - pos)
            code.feed(s[pos : len(s) - keep])
            if keep < len(s):
                events.append(Answer(s[: len(s) - keep]))
            if keep:
                self._held = s[len(s) - keep :]
            else:
                self._plain = Answer
            return ""

    def _feed_undecided(self, s: str, events: list[Event]) -> str:
        """Hold `s` until a tag decides; returns the text after the decision (answer mode by then)."""
        probe = self._tail + s
        self._parts.append(s)
        if THINK_CLOSE not in probe and CALL_OPEN not in probe:
            self._tail = probe[1 - len(CALL_OPEN) :]
            return ""
        body = "".join(self._parts)
        self._parts, self._tail, self._mode = [], "", _ANSWER
        close, call = body.find(THINK_CLOSE), body.find(CALL_OPEN)
        if close < 0 or 0 <= call < close:
            return body  # a tool call before any </think>: answer mode emits the text before it
        if close:
            events.append(Thinking(body[:close]))
        return body[close + len(THINK_CLOSE) :]

    def _feed_call(self, s: str, events: list[Event]) -> str:
        """Add `s` to the open call; emit it when closed. Returns the text after the call."""
        probe = self._tail + s
        self._parts.append(s)
        if CALL_CLOSE not in probe:
            self._tail = probe[1 - len(CALL_CLOSE) :]
            return ""
        body = "".join(self._parts)
        while True:
            idx = body.find(CALL_CLOSE, self._search_from)
            if idx < 0:
                self._parts = [body]
                self._search_from = max(0, len(body) - len(CALL_CLOSE) + 1)
                self._tail = body[1 - len(CALL_CLOSE) :]
                return ""
            # A </tool_call> inside an argument value (a file about this format) does not end the call.
            name, args, open_value = _parse_body(body[:idx], self._kinds)
            if open_value:
                self._search_from = idx + 1
                continue
            break
        inner = body[:idx]
        raw = CALL_OPEN + inner + CALL_CLOSE
        if args is None:
            events.append(IncompleteToolCall(name, raw))
        else:
            events.append(ToolCall(name, args, raw))  # type: ignore[arg-type]
        self._parts = []
        self._tail = ""
        self._search_from = 0
        self._mode = _ANSWER
        self._after_call = True
        return body[idx + len(CALL_CLOSE) :]
