"""What `glmchat ask` sends: the question (the argument, else stdin), piped text after it, -f files.

Like `llm` and `ollama run`: `printf code | glmchat ask "Explain this code"` sends the question,
then the piped text (attached as "stdin", the way /read attaches a file). With no argument, stdin
is the question. A terminal stdin is never read when the question is an argument.

Stdin is read up to MAX_STDIN_BYTES and no further: more is a usage error (exit 2), never a silent
cut or an unbounded read. Text that is not UTF-8 arrives as U+FFFD; input with a NUL byte is binary
and refused (exit 2). `-f PATH[:A-B]` reads like the TUI's /read (glmchat.tools.direct, through
safe_files: regular UTF-8 text files only, up to MAX_ATTACH_CHARS), from anywhere the user names.
`@path[:A-B]` in the question attaches a file of the workspace the same way (glmchat.mentions), and a
question `/NAME args` runs your own command NAME (glmchat.custom_commands): its text is what is sent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from glmchat.errors import GlmchatError, UsageError

if TYPE_CHECKING:
    from glmchat.custom_commands import CustomCommand

MAX_STDIN_BYTES = 1024 * 1024  # 1 MiB: well past a 200k-token context's worth of prompt text
FILE_HINT = "-f takes a UTF-8 text file of up to 64,000 characters, or a line range of one: -f PATH:A-B."


@dataclass
class AskInput:
    """The question as typed (or piped), and the (label, text) attachments sent after it."""

    question: str
    attachments: list[tuple[str, str]] = field(default_factory=list)


def gather_input(prompt: str | None, files: Sequence[str] = (), stdin: IO[Any] | None = None) -> AskInput:
    """The question and its attachments; UsageError (exit 2) for a missing question or unusable input."""
    from glmchat.store import clean_text

    stream = sys.stdin if stdin is None else stdin
    piped = _is_pipe(stream)
    attachments: list[tuple[str, str]] = []
    if prompt is None:
        if not piped:
            raise UsageError("No question given.", 'Pass it as an argument (glmchat ask "…") or on stdin.')
        try:
            prompt = read_stdin(stream).rstrip("\n")
        except OSError as exc:
            raise UsageError(f"Cannot read the question from stdin: {exc.strerror or exc}.", 'Pass it as an argument: glmchat ask "…".') from None
    elif piped:
        try:
            text = read_stdin(stream)
        except OSError:  # a stdin that cannot be read holds nothing to send after the question
            text = ""
        if text.strip():
            attachments.append(("stdin", clean_text(text)))
    prompt = clean_text(prompt)
    if not prompt.strip():
        raise UsageError("The question is empty.", 'Pass some text: glmchat ask "…".')
    attachments += [read_file_option(spec) for spec in files]
    return AskInput(prompt, attachments)


def _is_pipe(stream: IO[Any] | None) -> bool:
    """True for a stdin that holds input: a pipe or a file, not a terminal (nor a closed stream)."""
    try:
        return stream is not None and not stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def read_stdin(stream: IO[Any]) -> str:
    """All of `stream` as text, at most MAX_STDIN_BYTES; bytes that are not UTF-8 become U+FFFD."""
    raw = getattr(stream, "buffer", None)
    data: Any = raw.read(MAX_STDIN_BYTES + 1) if raw is not None else stream.read(MAX_STDIN_BYTES + 1)
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogateescape")
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError(
            f"stdin holds more than {MAX_STDIN_BYTES // (1024 * 1024)} MiB; glmchat ask reads at most that much.",
            "Pipe less (head -c, or the part that matters), or attach a file's line range with -f PATH:A-B.",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UsageError(
            f"stdin looks binary (a NUL byte at offset {nul:,}); glmchat ask reads text.",
            "Pipe text (for a binary file, a text rendering of it: xxd, strings, …).",
        )
    return data.decode("utf-8", errors="replace")


def read_file_option(spec: str, cwd: Path | None = None) -> tuple[str, str]:
    """-f PATH[:A-B]: (label, text) as /read attaches it; UsageError (exit 2) when it cannot be attached."""
    from glmchat.tools.direct import read_attachment
    from glmchat.tools.workspace import ToolError, Workspace

    path, line_range = spec, ""
    if not os.path.lexists(os.path.expanduser(spec)) and ":" in spec:
        path, rest = spec.rsplit(":", 1)
        line_range = ":" + rest
    given = Path(path).expanduser()
    target = given if given.is_absolute() else (cwd or Path.cwd()) / given
    try:
        real = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a directory without search permission
        raise UsageError(f"-f {spec}: cannot read it ({getattr(exc, 'strerror', None) or exc}).", FILE_HINT) from None
    if not real.exists():
        raise UsageError(f"-f {spec}: no such file.", "Check the path (relative paths start at the current directory).")
    if real.is_dir():
        raise UsageError(f"-f {spec}: {path} is a directory, not a file.", "Pass a file, once per -f.")
    try:  # the file's own directory as the workspace: safe_files opens it (regular files only, no FIFO waits)
        label, text = read_attachment(real.name + line_range, Workspace(real.parent))
    except ToolError as exc:  # its hints name slash commands
        raise UsageError(f"-f {spec}: {exc.message}", FILE_HINT) from None
    except GlmchatError as exc:  # a bad line range
        raise UsageError(f"-f {spec}: {exc.message}", exc.hint) from None
    except OSError as exc:
        raise UsageError(f"-f {spec}: cannot read it ({exc.strerror or exc}).", FILE_HINT) from None
    return path + label[len(real.name):], text


def mentions_and_command(asked: AskInput, ws: Any) -> CustomCommand | None:
    """The files the typed question @mentions attached (UsageError when one cannot be), then a question
    `/NAME args` naming one of your own commands replaced by its text; returns that command, if any.
    Only the typed text is searched for mentions, never a command file's text."""
    from glmchat.custom_commands import invocation, load
    from glmchat.mentions import read_mentions

    try:
        asked.attachments += read_mentions(asked.question, ws)
    except GlmchatError as exc:
        raise UsageError(exc.message, exc.hint) from None
    call = invocation(asked.question)
    command = load(ws.root).get(call[0]) if call else None
    if command is not None and call is not None:
        asked.question = command.expand(call[1])
    return command
