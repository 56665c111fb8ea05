"""`@path` mentions: a prompt names a workspace file (`@path`, or `@path:A-B` for a line range) and
the file goes with the message, read exactly as /read reads it (glmchat.tools.direct.read_attachment:
safe_files, regular UTF-8 text files only, up to MAX_ATTACH_CHARS, inside the workspace).

The rule, so that an email address or a decorator is never taken for a file:
- the `@` starts the text or follows whitespace or an opening bracket or quote (`a@b.com` stays text);
- what follows it, up to the next whitespace, names an existing regular file inside the workspace,
  optionally with `:A-B`; trailing punctuation (`.,;:!?)]}>'"` and a backtick) is dropped when the
  whole word is not a file, so "look at @notes.txt." works;
- anything else (`@decorator`, a path that does not exist or leads out of the workspace, a folder)
  stays text, untouched.
The mention stays in the message as typed; each file is attached once, however often it is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glmchat.errors import GlmchatError, UsageError

if TYPE_CHECKING:
    from glmchat.tools.workspace import Workspace

MENTION = re.compile(r"(?<![^\s(\[{\"'`])@(\S+)")  # at the start, after whitespace or an opening bracket/quote
MAX_MENTIONS = 20  # files one message may attach by mention
_TRAILING = ".,;:!?)]}>'\"`"
_RANGE = re.compile(r"^(?P<path>.+):(?:\d+(?:-\d*)?|-\d+)$")
HINT = "Mention a line range instead (@PATH:A-B), or drop the @ to send the text as it is."


@dataclass(frozen=True)
class Mention:
    spec: str  # PATH or PATH:A-B, as /read takes it
    start: int  # where the "@" is in the text
    end: int  # just past the spec


def _is_file(ws: Workspace, path: str) -> bool:
    from glmchat.tools.workspace import ToolError

    try:
        return ws.resolve(path).is_file()
    except (ToolError, OSError, ValueError):
        return False


def _file_spec(word: str, ws: Workspace) -> str | None:
    """The longest reading of `word` (less trailing punctuation) that names a file, or None."""
    candidate = word
    while candidate:
        if _is_file(ws, candidate):
            return candidate
        m = _RANGE.match(candidate)
        if m is not None and _is_file(ws, m["path"]):
            return candidate
        if candidate[-1] not in _TRAILING:
            return None
        candidate = candidate[:-1]
    return None


def find_mentions(text: str, ws: Workspace) -> list[Mention]:
    """The mentions of `text` that name files of the workspace `ws`, in order (repeats included)."""
    found: list[Mention] = []
    for m in MENTION.finditer(text):
        spec = _file_spec(m.group(1), ws)
        if spec is not None:
            found.append(Mention(spec, m.start(), m.start() + 1 + len(spec)))
    return found


def read_mentions(text: str, ws: Workspace) -> list[tuple[str, str]]:
    """(label, text) of each file `text` mentions, once each; GlmchatError naming the mention that failed."""
    from glmchat.tools.direct import read_attachment

    specs = list(dict.fromkeys(m.spec for m in find_mentions(text, ws)))
    if len(specs) > MAX_MENTIONS:
        raise UsageError(f"The message mentions {len(specs)} files; at most {MAX_MENTIONS} are attached by @.", "Mention fewer files.")
    out: list[tuple[str, str]] = []
    for spec in specs:
        try:
            out.append(read_attachment(spec, ws))
        except GlmchatError as exc:
            raise GlmchatError(f"@{spec}: {exc.message}", HINT) from None
        except OSError as exc:
            raise GlmchatError(f"@{spec}: cannot read it ({exc.strerror or exc}).", HINT) from None
    return out
