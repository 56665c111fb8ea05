"""Markdown helpers for streamed answers: fenced code blocks, where an answer can be cut into
segments that render exactly like the whole, and a check that a widget rendered its source."""

from __future__ import annotations

import re

from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownFence

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<body>.*?)(?:^(?P=indent)?(?P=fence)[`~]*[ \t]*$|\Z)", re.M | re.S)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks in `markdown`, in order."""
    return [m.group("body").rstrip("\n") for m in _FENCE.finditer(markdown)]


SEGMENT_CHARS = 1000  # an answer's Markdown is split into widgets of about this size while it streams


_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        _PARSER = MarkdownIt("gfm-like")
    return _PARSER


def block_starts(text: str) -> list[tuple[int, bool]]:
    """(character offset, preceded by a blank line) of every top-level Markdown block in `text`."""
    tokens = _parser().parse(text)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out: list[tuple[int, bool]] = []
    prev_end: int | None = None
    for t in tokens:
        if t.level != 0 or t.map is None or t.nesting == -1:
            continue
        start, end = t.map
        out.append((offsets[min(start, len(lines))], prev_end is not None and prev_end < start))
        prev_end = end
    return out


def split_points(text: str, size: int = SEGMENT_CHARS) -> list[int]:
    """Offsets where `text` can be cut into Markdown pieces of at least `size` characters that
    render exactly like the whole: only before a top-level block that follows a blank line."""
    cuts: list[int] = []
    last = 0
    for offset, blank_before in block_starts(text):
        if blank_before and offset - last >= size:
            cuts.append(offset)
            last = offset
    return cuts


def rendered_correctly(md: Markdown, source: str) -> bool:
    """Does a Markdown widget's block tree match `source`? Checks the source, the number of
    top-level blocks and every code fence's code *and* highlighted text (streaming can leave a
    fence's internal state stale, Textual issue 6518). A mismatch needs a full re-render."""
    if md.source != source:
        return False
    tokens = _parser().parse(source)
    top = [t for t in tokens if t.level == 0 and t.nesting in (0, 1)]
    if len(top) != len(md.children):
        return False
    fences = list(md.query(MarkdownFence))
    expected = [t.content for t in tokens if t.type in ("fence", "code_block")]
    if len(fences) != len(expected):
        return False
    for fence, code in zip(fences, expected):
        want = code.rstrip("\n")
        if fence.code.rstrip("\n") != want or fence._highlighted_code.plain.rstrip("\n") != want:
            return False
    return True
