"""CodeContext: whether the answer text streamed so far ends inside Markdown code.

The parser asks it before treating a ``<think>`` in the answer as the start of a further thought: a
tag inside an inline code span (`` `…` ``) or a fenced block (```` ``` ````) is text the model is
showing, never a thought. A simplified CommonMark reading, fed in chunks of any size:

* a run of three or more backticks that starts a line (after spaces) opens a fence; a run at least
  as long at the start of a later line closes it; inside a fence other backticks are text;
* elsewhere a run of N backticks opens a span that the next run of exactly N backticks closes; a
  blank line ends a span that never closed (CommonMark would show it as plain backticks).

Text is kept until a question is asked (or 512 pieces gathered) and then scanned at once, so the
answer's usual pieces of a token or two cost a list append.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(r"`+|\n")
_INDENT = " \t"
_BATCH = 512  # pieces of text kept before they are scanned


class CodeContext:
    """Feed the answer text in order; `in_code()` says whether the next character is inside code."""

    __slots__ = ("_fence", "_line_blank", "_pending", "_run", "_run_at_line_start", "_span")

    def __init__(self) -> None:
        self._pending: list[str] = []  # text fed since the last scan
        self._fence = 0  # backticks of the open fence (0: none)
        self._span = 0  # backticks of the open inline span (0: none)
        self._run = 0  # backticks just seen, not yet known to have ended (a chunk may cut a run)
        self._run_at_line_start = False
        self._line_blank = True  # only spaces/tabs so far on this line

    def feed(self, text: str) -> None:
        """Answer text, in order. Read lazily: only `in_code()` (rare: at a ``<think>``) scans it."""
        pending = self._pending
        pending.append(text)
        if len(pending) >= _BATCH:
            self._scan("".join(pending))
            pending.clear()

    def in_code(self) -> bool:
        """Inside a span or a fence at this point (the caller knows the next character is no backtick)."""
        if self._pending:
            self._scan("".join(self._pending))
            self._pending.clear()
        if self._run:
            self._end_run()
        return bool(self._fence or self._span)

    def _scan(self, text: str) -> None:
        if not text:
            return
        if self._run and not text.startswith("`"):
            self._end_run()
        if "`" not in text and "\n" not in text:
            if self._line_blank and text.strip(_INDENT):
                self._line_blank = False
            return
        pos = 0
        for m in _TOKENS.finditer(text):
            if m.start() > pos:
                self._text(text[pos : m.start()])
            tok = m.group()
            if tok == "\n":
                if self._run:
                    self._end_run()
                if self._line_blank and self._span:
                    self._span = 0  # a blank line: the span never closed, its backticks were text
                self._line_blank = True
            else:
                if not self._run:
                    self._run_at_line_start = self._line_blank
                self._run += len(tok)
                self._line_blank = False
            pos = m.end()
        if pos < len(text):
            self._text(text[pos:])

    def _text(self, gap: str) -> None:
        if self._run:
            self._end_run()
        if self._line_blank and gap.strip(_INDENT):
            self._line_blank = False

    def _end_run(self) -> None:
        n, at_start = self._run, self._run_at_line_start
        self._run = 0
        if self._fence:
            if at_start and n >= self._fence:
                self._fence = 0
        elif self._span:
            if n == self._span:
                self._span = 0
        elif at_start and n >= 3:
            self._fence = n
        else:
            self._span = n
