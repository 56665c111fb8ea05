"""Helpers behind the direct slash commands: /read, /run, /py, /ls, /grep, /diff.

Each returns text (or a ToolResult for commands that run something) and raises a `GlmchatError`
with a clear message on bad input; the TUI shows the error and attaches or displays the text.
"""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

from glmchat.errors import UsageError
from glmchat.tools.base import ToolContext, ToolResult
from glmchat.tools.builtin import list_directory, read_text_file
from glmchat.tools.search import GREP_TIMEOUT, grep_files
from glmchat.tools.registry import cap_text
from glmchat.tools.shell import SHELL_CAP, process_result, run_process, run_python_code, run_shell_command
from glmchat.tools.workspace import ToolError, Workspace

MAX_ATTACH_CHARS = 64_000  # /read refuses more than this without a line range
DEFAULT_TIMEOUT = 60.0
_GIT_NO_HOOKS = ("-c", "core.fsmonitor=false")  # a repository's config must not start a program
_GIT_DIFF_BUILTIN = ("--no-color", "--no-ext-diff", "--no-textconv")  # nor its diff driver or textconv
_RANGE = re.compile(r"^(?P<path>.+?):(?P<a>\d+)?(?:(?P<dash>-)(?P<b>\d+)?)?$")


def parse_read_spec(spec: str, ws: Workspace) -> tuple[str, int | None, int | None]:
    """Split "PATH[:A-B]" (also PATH:A, PATH:A-, PATH:-B) into path and 1-based inclusive bounds."""
    spec = spec.strip()
    if not spec:
        raise UsageError("/read needs a file: /read PATH[:A-B].", "Example: /read src/app.py:10-40")
    m = _RANGE.match(spec)
    if m is None or (m["a"] is None and m["b"] is None) or ws.resolve(spec).is_file():
        return spec, None, None  # no range (or a file whose name really ends in ":N")
    a = int(m["a"]) if m["a"] else 1
    b = int(m["b"]) if m["b"] else (a if not m["dash"] else None)
    if a < 1 or (b is not None and b < a):
        raise UsageError(f"Bad line range in {spec!r}.", "Use PATH:A-B with 1 ≤ A ≤ B, e.g. README.md:1-20.")
    return m["path"], a, b


def read_attachment(spec: str, ws: Workspace) -> tuple[str, str]:
    """/read: (label, text) of a file or a line range of it, to attach to the next message."""
    path, a, b = parse_read_spec(spec, ws)
    target = ws.resolve(path)  # the tool's own errors name the model's tools; these name slash commands
    if not target.exists():
        raise ToolError(f"No such file: {ws.display(target)}.", "/ls lists the workspace; /grep PATTERN finds text in it.")
    if target.is_dir():
        raise ToolError(f"{ws.display(target)} is a directory, not a file.", f"/ls {ws.display(target)} shows what it holds.")
    p, text = read_text_file(ws, path)
    rel = ws.display(p)
    lines = text.splitlines(keepends=True)
    if a is None:
        if len(text) > MAX_ATTACH_CHARS:
            raise ToolError(
                f"{rel} is too long to attach whole ({len(text):,} characters, {len(lines):,} lines).",
                f"Attach a range instead, e.g. /read {rel}:1-400.",
            )
        return rel, text
    total = len(lines)
    if a > total:
        raise ToolError(f"{rel} has only {total} lines; line {a} does not exist.", f"Use a range within 1-{total}.")
    end = total if b is None else min(b, total)
    chunk = "".join(lines[a - 1 : end])
    if len(chunk) > MAX_ATTACH_CHARS:
        raise ToolError(f"Lines {a}-{end} of {rel} are too long to attach ({len(chunk):,} characters).", "Attach a smaller range.")
    return f"{rel}:{a}-{end}", chunk


def run_command(cmd: str, ws: Workspace, cancel: Any = None, timeout: float = DEFAULT_TIMEOUT) -> ToolResult:
    """/run: run the user's own shell command in the workspace (own process group, killed on cancel
    or timeout, secrets filtered from its environment; not sandboxed: the user typed it)."""
    if not cmd.strip():
        raise UsageError("/run needs a command: /run CMD.", "Example: /run ls -la")
    res = run_shell_command(cmd, ws.root, timeout, cancel, SHELL_CAP, sandbox=False)
    return process_result(res, timeout, "command")


def run_python(code: str, ws: Workspace, cancel: Any = None, timeout: float = DEFAULT_TIMEOUT) -> ToolResult:
    """/py: run the user's own Python code in a subprocess in the workspace (not sandboxed, as /run)."""
    if not code.strip():
        raise UsageError("/py needs code: /py CODE.", "Example: /py print(2**10)")
    res = run_python_code(code, ws.root, timeout, cancel, SHELL_CAP, sandbox=False)
    return process_result(res, timeout, "python code")


def list_path(path: str | None, ws: Workspace) -> str:
    """/ls: a directory listing (the workspace root by default)."""
    return list_directory(ws, path or ".")


def grep_text(pattern: str, path: str | None, ws: Workspace, cancel: Any = None, timeout: float = GREP_TIMEOUT) -> str:
    """/grep: `file:line: text` matches of a regex (capped); stops at `timeout` seconds or when `cancel` is set."""
    if not pattern:
        raise UsageError("/grep needs a pattern: /grep PATTERN [PATH].", "Example: /grep 'def main' src")
    ctx = ToolContext(ws, cancel=cancel, timeout=timeout, deadline=time.monotonic() + timeout)
    return grep_files(ws, pattern, path or ".", ctx=ctx)


def git_diff(ws: Workspace, cancel: Any = None) -> str:
    """/diff: `git diff` of the workspace (staged changes too), to attach to the next message.

    The repository's own configuration may name programs for diffs (diff.external, a diff driver's
    command or textconv in .gitattributes); a repository glmchat did not make is not trusted to run
    them, so git is asked for its built-in diff only (and to run no fsmonitor hook).
    """
    git = shutil.which("git")
    if git is None:
        raise ToolError("git is not installed.", "Install git to use /diff.")
    inside = run_process([git, *_GIT_NO_HOOKS, "rev-parse", "--is-inside-work-tree"], ws.root, 20.0, cancel, 1000)
    if inside.exit_code != 0 or inside.stdout.strip() != "true":
        raise ToolError(f"{ws.root} is not inside a git repository.", "/diff works in a git work tree; run `git init` first.")
    parts = []
    for title, extra in (("unstaged changes", []), ("staged changes", ["--cached"])):
        res = run_process([git, *_GIT_NO_HOOKS, "--no-pager", "diff", *_GIT_DIFF_BUILTIN, *extra], ws.root, 30.0, cancel, 400_000)
        if res.exit_code != 0:
            raise ToolError(f"git diff failed: {res.stderr.strip() or res.exit_code}.", "Run git diff in a shell to see why.")
        if res.stdout.strip():
            parts.append((title, res.stdout))
    if not parts:
        raise ToolError(f"No changes: git diff is empty in {ws.root}.", "Nothing to attach.")
    if len(parts) == 1:
        text = parts[0][1]
    else:
        text = "".join(f"# {title}\n{body}" for title, body in parts)
    return cap_text(text, MAX_ATTACH_CHARS)[0]
