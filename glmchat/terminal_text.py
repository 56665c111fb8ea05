"""Text glmchat did not write, made safe to show on a terminal.

Files, file names, tool output, model output, GGUF metadata and imported history may carry escape
sequences (OSC 52 sets the clipboard, OSC 0 the window title, `ESC[2J` clears the screen) or
characters that reorder what is shown (bidi overrides). `visible()` turns every character a
terminal would act on into one it only prints:

- ESC and the other C0 controls become their Unicode control pictures (ESC → ␛, BEL → ␇, NUL → ␀),
  DEL becomes ␡; newline and tab stay; carriage return is dropped (CRLF line ends, and a lone CR
  would move the cursor back over what is already on the line);
- 8-bit C1 controls (U+0080–U+009F, e.g. U+009B, a one-character CSI) become `\\x9b`;
- bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) become `\\u202e`;
- lone surrogates (a file name that is not UTF-8, decoded with `surrogateescape`) become `\\xNN`
  (the original byte) or U+FFFD, so the text always encodes as UTF-8.

So an escape sequence shows as inert text (`␛]0;title␇`): what follows its ESC is printable
already. The mapping is one character at a time, which makes it safe on a stream cut anywhere:
`visible(a + b) == visible(a) + visible(b)`, so each streamed piece is sanitized on its own.

Apply it where text is shown, never to what is stored or sent to the model.
"""

from __future__ import annotations

import re
from typing import Callable, TextIO

_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _table() -> dict[int, str | None]:
    table: dict[int, str | None] = {cp: chr(0x2400 + cp) for cp in range(0x20) if cp not in (0x09, 0x0A)}
    table[0x0D] = None
    table[0x7F] = "\u2421"  # ␡
    table.update({cp: f"\\x{cp:02x}" for cp in range(0x80, 0xA0)})
    table.update({cp: f"\\u{cp:04x}" for cp in _BIDI})
    table.update({cp: "\ufffd" for cp in range(0xD800, 0xDC80)})
    table.update({cp: f"\\x{cp - 0xDC00:02x}" for cp in range(0xDC80, 0xDD00)})  # surrogateescape's bytes
    table.update({cp: "\ufffd" for cp in range(0xDD00, 0xE000)})
    return table


_VISIBLE = _table()
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

# JSON text: control characters below 0x20 are escaped by json.dumps already; the rest become \uXXXX
_JSON = {cp: f"\\u{cp:04x}" for cp in (0x7F, *range(0x80, 0xA0), *_BIDI, *range(0xD800, 0xE000))}
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: str) -> str:
    """`text` with every character a terminal would interpret made visible (or dropped: CR)."""
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_VISIBLE)


def visible_json(text: str) -> str:
    """JSON text (from json.dumps) with C1, DEL, bidi controls and lone surrogates written as \\uXXXX
    escapes: the same JSON value, safe on a terminal."""
    if _JSON_UNSAFE.search(text) is None:
        return text
    return text.translate(_JSON)


def _same(text: str) -> str:
    return text


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (False for pipes, files, closed streams and stand-ins)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def for_stream(stream: TextIO) -> Callable[[str], str]:
    """`visible` when `stream` is a terminal, else the identity (pipes and files get the text as is)."""
    return visible if is_terminal(stream) else _same
