"""StreamWriter: saves a message while it streams, so a crash loses at most about a second of text.

Appends only touch memory (about a microsecond) and never wait for the disk: a small background
thread saves the text when the oldest unsaved piece is about to be `min_interval` seconds old
(with `background=False` the appending thread does that save itself, on the next append). The row carries status 'partial' and the writer's process identity
until `finish()`; a store opened after a crash marks it 'interrupted'.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from glmchat.store.errors import StoreError
from glmchat.store.models import Message, normalize_tool_calls

_NEVER = float("inf")


class MessageSink(Protocol):
    """Where a StreamWriter saves its message: `glmchat.store.Store` is one."""

    def save_stream(self, msg_id: int, content: str, reasoning: str | None,
                    tool_calls: list[dict[str, Any]] | None) -> None:
        """The periodic save while streaming: text and tool calls only."""

    def update_message(self, msg_id: int, **fields: Any) -> Message:
        """The final save: text, status, usage and meta; returns the stored message."""


class StreamWriter:
    """Fill in one message as it streams. Use as a context manager or call `finish()` yourself."""

    def __init__(self, store: MessageSink, message: Message, min_interval: float = 1.0, background: bool = True):
        self.store = store
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self.min_interval = max(0.0, float(min_interval))
        # write a little before the deadline so the write itself still lands within min_interval
        self._lead = min(0.1, self.min_interval / 4)
        self._meta = {k: v for k, v in message.meta.items() if k != "writer"}
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: list[dict[str, Any]] | None = None
        self._cond = threading.Condition(threading.Lock())  # guards the text and flags; never held over I/O
        self._save_lock = threading.Lock()
        self._dirty = False
        self._due = _NEVER
        self._finished = False
        self.writes = 0  # saves done so far (for tests and benchmarks)
        self.error: StoreError | None = None  # the last failed save, retried at the next deadline
        self._thread: threading.Thread | None = None
        if background and self.min_interval > 0:
            self._thread = threading.Thread(target=self._tick, name=f"glmchat-stream-{message.id}", daemon=True)
            self._thread.start()

    # ---- feeding --------------------------------------------------------------------------------

    def append_answer(self, text: str) -> None:
        if text:
            self._add(self._answer, text)

    def append_reasoning(self, text: str) -> None:
        if text:
            self._add(self._reasoning, text)

    def set_tool_calls(self, calls: list[dict[str, Any]] | None) -> None:
        normalized = normalize_tool_calls(calls)
        with self._cond:
            self._check_open()
            self._tool_calls = normalized
            self._mark_dirty()

    def _add(self, parts: list[str], text: str) -> None:
        with self._cond:
            self._check_open()
            parts.append(text)
            self._mark_dirty()
            due = self._thread is None and time.monotonic() >= self._due
        if due:  # without the background thread, the appending thread saves
            self.flush()

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"StreamWriter for message {self.message_id} is already finished")

    def _mark_dirty(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._due = time.monotonic() + self.min_interval - self._lead
            self._cond.notify()

    # ---- what has streamed so far -----------------------------------------------------------------

    @property
    def text(self) -> str:
        with self._cond:
            return "".join(self._answer)

    @property
    def reasoning(self) -> str:
        with self._cond:
            return "".join(self._reasoning)

    # ---- saving ---------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[str, str | None]:
        answer = "".join(self._answer)
        reasoning = "".join(self._reasoning)
        self._answer[:] = [answer] if answer else []
        self._reasoning[:] = [reasoning] if reasoning else []
        return answer, (reasoning or None)

    def flush(self) -> bool:
        """Save now if anything changed since the last save; True when a save happened."""
        with self._save_lock:  # saves happen one at a time, in order
            with self._cond:
                if not self._dirty:
                    return False
                answer, reasoning = self._snapshot()
                calls = self._tool_calls
                self._dirty = False
                self._due = _NEVER
            try:
                self.store.save_stream(self.message_id, answer, reasoning, calls)
            except StoreError as exc:
                with self._cond:  # keep it dirty: the next deadline tries again
                    self.error = exc
                    self._dirty = True
                    self._due = time.monotonic() + self.min_interval
                return False
            self.error = None
            self.writes += 1
            return True

    def _tick(self) -> None:
        """Background saver: sleeps until the oldest unsaved text is due, saves, repeats."""
        while True:
            with self._cond:
                while not self._finished:
                    if not self._dirty:
                        self._cond.wait()
                        continue
                    wait = self._due - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._finished:
                    return
            self.flush()

    def finish(self, status: str = "complete", usage: Any = None, meta: dict[str, Any] | None = None) -> Message:
        """Write the final text, status, usage and meta; returns the stored message."""
        with self._cond:
            self._check_open()
            self._finished = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            answer, reasoning = self._snapshot()
        fields: dict[str, Any] = {
            "content": answer,
            "reasoning": reasoning,
            "tool_calls": self._tool_calls,
            "status": status,
            "meta": {**self._meta, **(meta or {})},
        }
        if usage is not None:
            fields["usage"] = usage
        with self._save_lock:
            return self.store.update_message(self.message_id, **fields)

    @property
    def finished(self) -> bool:
        return self._finished

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.finish("complete")
        elif issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)):
            self.finish("cancelled")
        else:
            self.finish("error", meta={"error": str(exc)})
