"""Your own slash commands: Markdown files that become `/NAME`.

`commands/NAME.md` in the config directory (yours) and `.glmchat/commands/NAME.md` in the workspace
(the project's) each become `/NAME`. Typing `/NAME ARGS` sends the file's text as your message, with
`$ARGUMENTS` replaced by ARGS as typed and `$1`…`$9` by its words (split like a shell does; a missing
one is empty). A file with no placeholder gets ARGS after its text.

An optional front matter, a `---` block at the top with `key: value` lines (parsed here by hand,
never evaluated): `description` (shown in the popup and F1), `argument-hint`, `profile` (the
sampling profile to switch to) and `tools` (true/false: let the model call tools or not).

A project's file is hostile text: it is only ever sent to the model as the user's message, so it
can run nothing by itself (the model's tool calls still go through approval). Its files are read
without following symlinks (a cloned repository cannot make /review send ~/.ssh/id_rsa), and a
project command never shadows one of yours of the same name. Built-in commands win every clash;
`CustomCommands.problems` says so, for a notice shown once. Names: lower-case letters, digits, `-`, `_`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from glmchat.errors import UsageError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_COMMAND_BYTES = 32 * 1024
MAX_COMMANDS = 200  # files read per folder
PLACEHOLDER = re.compile(r"\$(ARGUMENTS|[1-9])")
_TRUE, _FALSE = {"true", "yes", "on"}, {"false", "no", "off"}


@dataclass(frozen=True)
class CustomCommand:
    name: str
    body: str  # the text after the front matter
    source: Path
    scope: str  # "user" or "project"
    description: str = ""
    args: str = "[ARGS]"  # the hint in the popup and F1
    profile: str | None = None
    tools: bool | None = None  # None: leave the tools as they are

    def expand(self, args: str) -> str:
        """The message `/NAME args` sends; UsageError when it comes out empty."""
        return expand(self, args)


@dataclass
class CustomCommands:
    """The commands found (by name) and what was wrong with the files that were left out."""

    commands: dict[str, CustomCommand] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> CustomCommand | None:
        return self.commands.get(name.lower())


def command_dirs(workspace: Path | None, config: Path | None = None) -> list[tuple[str, Path]]:
    """(scope, folder) in the order they are read: yours first, then the project's."""
    if config is None:
        from glmchat.settings import config_dir

        config = config_dir()
    dirs = [("user", config / "commands")]
    if workspace is not None:
        dirs.append(("project", workspace / ".glmchat" / "commands"))
    return dirs


def load(workspace: Path | None, config: Path | None = None, reserved: Iterable[str] = ()) -> CustomCommands:
    """Every command of both folders; `reserved` names (the built-in commands) win a clash."""
    builtin = set(reserved)
    found = CustomCommands()
    for scope, folder in command_dirs(workspace, config):
        for path in _command_files(folder):
            name = path.stem.lower()
            where = f"{scope} command file {path}"
            if not NAME.match(name):
                found.problems.append(f"Left out the {where}: a command name takes letters, digits, - and _ (up to 40).")
            elif name in builtin:
                found.problems.append(f"/{name} is a built-in command, so the {where} is not used; rename the file.")
            elif name in found.commands:
                found.problems.append(f"/{name} is yours ({found.commands[name].source}); the {where} is not used.")
            else:
                try:
                    found.commands[name] = parse(name, read_command_file(path, follow=scope == "user"), path, scope)
                except (OSError, UsageError) as exc:
                    why = exc.message if isinstance(exc, UsageError) else (exc.strerror or str(exc))
                    found.problems.append(f"Left out the {where}: {why}")
    return found


def _command_files(folder: Path) -> list[Path]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".md"))
    except OSError:  # no such folder (the usual case), or not readable
        return []
    return [folder / n for n in names[:MAX_COMMANDS]]


def read_command_file(path: Path, follow: bool = True) -> str:
    """The file's text (regular files only, never a FIFO wait; a project's symlink is refused)."""
    from glmchat.regular_files import open_regular

    fd, _st = open_regular(path, follow=follow)
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_COMMAND_BYTES + 1)
    if len(data) > MAX_COMMAND_BYTES:
        raise UsageError(f"it is larger than {MAX_COMMAND_BYTES // 1024} KiB.")
    if b"\x00" in data:
        raise UsageError("it is binary (a NUL byte), not text.")
    return data.decode("utf-8", errors="replace")


def parse(name: str, text: str, source: Path, scope: str) -> CustomCommand:
    """The command a file's text makes (front matter read, never evaluated); UsageError for a bad one."""
    meta, body = split_front_matter(text.replace("\r\n", "\n"))
    tools = meta.get("tools")
    if tools is not None and tools.lower() not in _TRUE | _FALSE:
        raise UsageError(f"tools: {tools!r} in its front matter is not true or false.")
    if not body.strip():
        raise UsageError("it holds no text to send.")
    return CustomCommand(
        name=name,
        body=body,
        source=source,
        scope=scope,
        description=meta.get("description", "") or f"({scope} command)",
        args=meta.get("argument-hint", "[ARGS]"),
        profile=meta.get("profile") or None,
        tools=None if tools is None else tools.lower() in _TRUE,
    )


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """({key: value}, body) of a text that may start with a `---` … `---` block of `key: value` lines."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    after = text.find("\n", end + 4)
    meta: dict[str, str] = {}
    for line in text[4:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not line.startswith((" ", "#")):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            meta[key.strip().lower()] = value
    return meta, "" if after < 0 else text[after + 1 :]


def expand(cmd: CustomCommand, args: str) -> str:
    """`cmd`'s text with $ARGUMENTS and $1…$9 replaced (or `args` after it when it has no placeholder)."""
    args = args.strip()
    try:
        words = shlex.split(args)
    except ValueError:  # an unclosed quote: plain words
        words = args.split()
    used = False

    def value(m: re.Match[str]) -> str:
        nonlocal used
        used = True
        key = m.group(1)
        if key == "ARGUMENTS":
            return args
        n = int(key)
        return words[n - 1] if n <= len(words) else ""

    text = PLACEHOLDER.sub(value, cmd.body).strip()
    if not used and args:
        text = f"{text}\n\n{args}"
    if not text:
        raise UsageError(f"/{cmd.name} expands to an empty message.", f"Check {cmd.source}.")
    return text


def invocation(text: str) -> tuple[str, str] | None:
    """'/name rest…' → (name, rest) when `text` has the form of a command; None for other text ('/usr/bin')."""
    s = text.strip()
    if not s.startswith("/"):
        return None
    parts = s[1:].split(None, 1)
    name = parts[0].lower() if parts else ""
    if not NAME.match(name):
        return None
    return name, parts[1] if len(parts) > 1 else ""
