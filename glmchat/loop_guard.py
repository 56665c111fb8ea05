"""The loop guard: a model that goes round in circles is caught within one turn.

Open models loop, GLM-4.7-Flash among them. `[chat] loop_guard` (on by default) turns on:

* **Repeated tool calls** (`TurnGuard.call_verdict`): the same call — the same tool with the same
  arguments, compared as canonical JSON — runs at most twice in a turn. The third and fourth get a
  result saying it was not run again (so the model can change course); at the fifth the turn stops.
* **Repeating text** (`RepetitionDetector`, watched per generation by `StreamWatch`): when the end
  of the thinking or of the answer is one span repeated over and over, the session closes the
  thought and lets the model answer (once per turn, on engines that can continue a prompt), or
  stops the answer.

What counts as repeating text: the last ``need(p)`` characters have period ``p`` (each character
equals the one ``p`` before it), for some ``p`` from 1 to `MAX_PERIOD`, where ``need(p)`` asks for

* at least 4 copies of the span when it is under 200 characters, 3 copies from 200 characters on;
* at least 400 characters in all (800 for a span under 20 characters).

So a loop of a 100-character sentence is caught after 400 characters, one of a 600-character
paragraph after 1,800. A Markdown table, a numbered list or code with similar lines is not caught:
their rows differ somewhere (a number, a name), and an exact repetition of 400 characters and more
is needed. Ruled lines and runs of one character (``=====``) of up to 800 characters pass too.

Cost: the detector keeps the last `WINDOW` characters and checks every `CHECK_EVERY` new ones: the
last `PROBE` characters are looked for (``str.rfind``, bounded to the last `MAX_PERIOD` characters)
and at most `MAX_CANDIDATES` earlier occurrences are verified with one slice comparison each. Text
that does not repeat finds no earlier occurrence, so a 200,000-character answer costs a few
milliseconds (tests/session/test_loop_guard.py measures it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from glmchat.engine.base import CancelToken, ChatRequest, Engine
from glmchat.glm import Answer, Thinking, ToolCall, close_thought
from glmchat.session_events import Notice, SessionEvent

if TYPE_CHECKING:
    from glmchat.reply import StreamedReply

MAX_PERIOD = 1000  # the longest repeated span looked for, in characters
MIN_TOTAL = 400  # characters that must repeat before a loop is called one
MIN_TOTAL_SHORT = 800  # the same for spans under SHORT_PERIOD characters (ruled lines, "....")
SHORT_PERIOD = 20
LONG_PERIOD = 200  # spans this long need 3 copies; shorter ones 4
CHECK_EVERY = 64  # new characters between checks
PROBE = 32  # the tail looked for earlier in the text
MAX_CANDIDATES = 8  # earlier occurrences of the probe verified per check
WINDOW = 4096  # characters kept: the longest need (3 × MAX_PERIOD) and some

RUN_LIMIT = 2  # the same call runs this many times in a turn
STOP_AT = 5  # and the turn stops when the model makes it this many times

REPEATED_CALL_STOP = "stopped: the model repeated the same tool call"
ANSWER_STOP = "stopped: the answer was repeating"
THOUGHT_STOP = "stopped: the thought was repeating"
THOUGHT_CLOSED = "The thought was repeating: glmchat closed it and the model answered."


def need(period: int) -> int:
    """Characters of the text's end that must have `period` for it to count as a loop."""
    copies = 3 if period >= LONG_PERIOD else 4
    return max(copies * period, MIN_TOTAL_SHORT if period < SHORT_PERIOD else MIN_TOTAL)


@dataclass(frozen=True)
class Repeat:
    """The end of the text is a span of `period` characters repeated over `length` characters."""

    period: int
    length: int


class RepetitionDetector:
    """Feed text as it streams; `feed` returns a `Repeat` once the text's end loops."""

    __slots__ = ("_buf", "_fresh", "_pending")

    def __init__(self) -> None:
        self._buf = ""  # the last WINDOW characters (as of the last check)
        self._pending: list[str] = []  # text since then
        self._fresh = 0  # its length

    def feed(self, text: str) -> Repeat | None:
        self._pending.append(text)
        self._fresh += len(text)
        if self._fresh < CHECK_EVERY:
            return None
        self._buf = (self._buf + "".join(self._pending))[-WINDOW:]
        self._pending.clear()
        self._fresh = 0
        return find_repeat(self._buf)


def find_repeat(buf: str) -> Repeat | None:
    """The loop `buf` ends in, if any (see the module's note for what counts)."""
    n = len(buf)
    if n < MIN_TOTAL:
        return None
    probe = buf[-PROBE:]
    lo = max(0, n - PROBE - MAX_PERIOD)
    hi = n - 1  # occurrences that start at least one character before the probe itself
    for _ in range(MAX_CANDIDATES):
        j = buf.rfind(probe, lo, hi)
        if j < 0:
            return None
        period = n - PROBE - j
        if _periodic(buf, period, need(period)):
            unit = buf[n - period :]
            shortest = (unit + unit).find(unit, 1)  # the span may itself repeat a shorter one ("=" * 20)
            if shortest < period:
                period = shortest
                if not _periodic(buf, period, need(period)):
                    return None
            return Repeat(period, need(period))
        hi = j + PROBE - 1
    return None


def _periodic(buf: str, period: int, length: int) -> bool:
    """The last `length` characters of `buf` repeat with `period`."""
    n = len(buf)
    return length <= n and buf[n - length + period :] == buf[n - length : n - period]


class StreamWatch:
    """One generation's thinking and answer, each watched for a loop."""

    def __init__(self) -> None:
        self._thinking = RepetitionDetector()
        self._answer = RepetitionDetector()

    def observe(self, event: Any) -> tuple[str, Repeat] | None:
        """("thought" | "answer", the loop) when this event's text completes one."""
        if isinstance(event, Thinking):
            hit = self._thinking.feed(event.text)
            return ("thought", hit) if hit else None
        if isinstance(event, Answer):
            hit = self._answer.feed(event.text)
            return ("answer", hit) if hit else None
        return None


class LinkedCancel(CancelToken):
    """Cancelled by its own `cancel()` or when the turn's token is: the guard stops one stream."""

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self._parent = parent

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._parent.cancelled


def call_key(call: ToolCall) -> str:
    """The same tool with the same arguments gives the same key (canonical JSON)."""
    args = json.dumps(call.arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{call.name}\x00{args}"


class TurnGuard:
    """What the loop guard remembers during one turn (every round of it)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._seen: dict[str, int] = {}
        self.stopped = False  # the model repeated a call STOP_AT times: the turn ends after this round
        self.thought_closed = False  # a looping thought was closed once already

    def watch(self) -> StreamWatch | None:
        return StreamWatch() if self.enabled else None

    def call_verdict(self, call: ToolCall) -> str:
        """"run", "refuse" (a result says it was not run again) or "stop" (the turn ends)."""
        if not self.enabled:
            return "run"
        if self.stopped:
            return "stop"
        key = call_key(call)
        n = self._seen[key] = self._seen.get(key, 0) + 1
        if n <= RUN_LIMIT:
            return "run"
        if n < STOP_AT:
            return "refuse"
        self.stopped = True
        return "stop"

    @staticmethod
    def refusal(call: ToolCall, verdict: str) -> str:
        """The tool result the model gets for a call that was not run."""
        if verdict == "stop":
            return f"Not run: {call.name} was called with these same arguments {STOP_AT} times; the turn was stopped."
        return (
            f"Not run: {call.name} already ran {RUN_LIMIT} times with these same arguments in this turn and would "
            "give the same result. Use that result, or try something different."
        )


def stream_guarded(
    engine: Engine, request: ChatRequest, reply: StreamedReply, cancel: CancelToken, guard: TurnGuard | None
) -> Iterator[SessionEvent]:
    """Stream `request` into `reply`, watched for loops: a looping thought is closed and the model
    goes on with its answer (once per turn, on engines that continue a prompt; else it stops), a
    looping answer is stopped. The stop reason lands in `reply.stop_reason` and a notice."""
    while True:
        watch = guard.watch() if guard is not None else None
        stop = LinkedCancel(cancel)
        hit: tuple[str, Repeat] | None = None
        for item in engine.stream(request, stop):
            for ev in reply.feed(item):
                yield ev
                if watch is not None and hit is None:
                    hit = watch.observe(ev)
                    if hit is not None:
                        stop.cancel()  # the engine ends at its next token
        if hit is None or cancel.cancelled:
            if reply.thought_closed:
                yield Notice(THOUGHT_CLOSED, "info")
            return
        kind, loop = hit
        assert guard is not None
        if kind == "thought" and not guard.thought_closed and getattr(engine, "continues_prefix", False):
            guard.thought_closed = True
            yield from reply.end()  # what the parser held back
            thought = reply.thinking
            thought = thought[: len(thought) - (loop.length - loop.period)]  # one copy of the loop is kept
            request = replace(request, assistant_prefix=close_thought(thought))
            reply.continue_after_thought()
            continue
        reply.stop_reason = "repeating answer" if kind == "answer" else "repeating thought"
        yield Notice(ANSWER_STOP if kind == "answer" else THOUGHT_STOP, "warning")
        return
