"""The built-in tools: read_file, list_dir, glob, grep, write_file, edit_file, run_shell, python.

Each tool is a thin wrapper around a plain function below (or in `glmchat.tools.search`: glob, grep)
that raises `ToolError` on expected failures; `glmchat.tools.direct` (the slash commands) and
`glmchat.tools.policy` (previews) reuse those functions. Files are opened and written through
`glmchat.tools.safe_files` only (by directory fd, regular files only, writes by rename).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from glmchat.tools import safe_files
from glmchat.tools.base import Tool, ToolContext, ToolResult
from glmchat.tools.search import MAX_GREP_MATCHES, glob_paths, glob_to_regex, grep_files, looks_binary  # noqa: F401 (re-exported)
from glmchat.tools.shell import SHELL_CAP, process_result, run_python_code, run_shell_command
from glmchat.tools.workspace import ToolError, Workspace

MAX_READ_BYTES = 20 * 1024 * 1024  # files bigger than this are not read at all
MAX_READ_LINES = 2000  # lines per read_file call
MAX_LINE_CHARS = 2000  # longer lines are cut in read_file output
READ_CHAR_BUDGET = 28_000  # read_file output stays under the tool's cap (a note follows)
MAX_LIST_ENTRIES = 1000

# ---- reading --------------------------------------------------------------------------------------


def _too_big(rel: str, size: int) -> ToolError:
    from glmchat.units import size_text

    return ToolError(
        f"{rel} is too big to read ({size_text(size)}).",
        "Search it with grep, or look at parts with run_shell (head, tail, sed -n).",
    )


def read_text_file(ws: Workspace, path: str) -> tuple[Path, str]:
    """(resolved path, text) of a UTF-8 text file in the workspace; refuses dirs, FIFOs and devices, binaries, huge files."""
    with safe_files.open_file(ws, path) as f:
        p, rel, size = f.path, f.rel, f.st.st_size
        if size > MAX_READ_BYTES:
            raise _too_big(rel, size)
        data = f.read(MAX_READ_BYTES)
    if len(data) > MAX_READ_BYTES:
        raise _too_big(rel, len(data))
    if looks_binary(data):
        raise ToolError(f"{rel} is a binary file ({size:,} bytes); it cannot be read as text.", "Only text files can be read.")
    try:
        return p, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"{rel} is not UTF-8 text (bad byte at offset {exc.start}).",
            "Only UTF-8 text files can be read; convert it or inspect it with run_shell.",
        ) from None


def numbered_lines(text: str, rel: str, start: int | None, end: int | None) -> str:
    """Lines `start`..`end` (1-based, inclusive) prefixed with their numbers, with a note on how to read on."""
    lines = text.splitlines()
    total = len(lines)
    if total == 0:
        return f"({rel} is empty)"
    first = 1 if start is None else start
    if first < 1:
        raise ToolError(f"start_line must be 1 or more, got {first}.", "Lines are numbered from 1.")
    if first > total:
        raise ToolError(f"start_line {first} is past the end of {rel} ({total} lines).", f"Read from a line between 1 and {total}.")
    last = total if end is None else min(end, total)
    if last < first:
        raise ToolError(f"end_line {end} is before start_line {first}.", "Give end_line ≥ start_line.")
    last = min(last, first + MAX_READ_LINES - 1)
    width = len(str(last))
    out: list[str] = []
    used = 0
    shown_last = first - 1
    for n in range(first, last + 1):
        line = lines[n - 1]
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" [line truncated: {len(line) - MAX_LINE_CHARS:,} more characters]"
        row = f"{n:>{width}}\t{line}"
        if out and used + len(row) + 1 > READ_CHAR_BUDGET:
            break
        out.append(row)
        used += len(row) + 1
        shown_last = n
    wanted_last = total if end is None else min(end, total)
    if shown_last < wanted_last:
        out.append(
            f"[showing lines {first}-{shown_last} of {total}; "
            f"call read_file with start_line={shown_last + 1} to read more]"
        )
    elif start is not None or end is not None:
        out.append(f"[lines {first}-{shown_last} of {total}]")
    return "\n".join(out)


def list_directory(ws: Workspace, path: str = ".") -> str:
    """The entries of a directory: folders first (with a trailing /), then files with their sizes."""
    try:
        fd, where = safe_files.open_dir(ws, path)
    except safe_files.NoSuchFileError as exc:
        raise ToolError(f"No such directory: {exc.rel}.", "Check the path with glob or list the parent directory.") from None
    rel = where.rel
    dirs: list[str] = []
    files: list[str] = []
    try:
        with os.scandir(fd) as it:  # by fd: the folder listed is the one verified, whatever its name points to now
            for entry in it:
                try:
                    if entry.is_symlink():
                        target = os.readlink(entry.name, dir_fd=fd)
                        (dirs if entry.is_dir() else files).append(f"{entry.name} -> {target}")
                    elif entry.is_dir():
                        dirs.append(entry.name + "/")
                    else:
                        files.append(f"{entry.name}  ({entry.stat().st_size:,} bytes)")
                except OSError:
                    files.append(entry.name)
    finally:
        os.close(fd)
    entries = sorted(dirs, key=str.lower) + sorted(files, key=str.lower)
    if not entries:
        return f"{rel}/ is empty"
    more = len(entries) - MAX_LIST_ENTRIES
    shown = entries[:MAX_LIST_ENTRIES]
    head = f"{rel}/ ({_plural(len(dirs), 'directory', 'directories')}, {_plural(len(files), 'file', 'files')})"
    tail = [f"[{more:,} more entries not shown; use glob to narrow down]"] if more > 0 else []
    return "\n".join([head, *shown, *tail])


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ---- changing -------------------------------------------------------------------------------------


def unified_diff(old: str | None, new: str, rel: str) -> str:
    """A unified diff from `old` (None: the file does not exist yet) to `new`."""
    a = [] if old is None else old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    lines = list(
        difflib.unified_diff(a, b, "/dev/null" if old is None else f"a/{rel}", f"b/{rel}")
    )
    fixed = []
    for line in lines:  # mark missing trailing newlines the way git does
        if line.endswith("\n"):
            fixed.append(line)
        else:
            fixed.append(line + "\n\\ No newline at end of file\n")
    return "".join(fixed)


def _old_content(ws: Workspace, path: str) -> tuple[Path, str, bytes | None, str | None]:
    """(target, its relative name, raw bytes or None, text or None when binary / not UTF-8) of a file about to be written."""
    try:
        with safe_files.open_file(ws, path) as f:
            p, rel, data = f.path, f.rel, f.read()
    except safe_files.NoSuchFileError as exc:
        return exc.path, exc.rel, None, None
    except safe_files.IsADirectory as exc:
        raise ToolError(f"{exc.rel} is a directory; write_file needs a file path.", "Give a file name inside it.") from None
    if looks_binary(data):
        return p, rel, data, None
    try:
        return p, rel, data, data.decode("utf-8")
    except UnicodeDecodeError:
        return p, rel, data, None


def plan_write(ws: Workspace, path: str, content: str) -> tuple[Path, bytes | None, str]:
    """(target, its current bytes or None, diff) for write_file, without writing anything."""
    p, rel, old_bytes, old_text = _old_content(ws, path)
    if old_bytes is not None and old_text is None:
        diff = f"--- a/{rel}\n+++ b/{rel}\n(binary file replaced by {len(content.splitlines())} lines of text)\n"
    else:
        diff = unified_diff(old_text, content, rel)
    return p, old_bytes, diff


def plan_edit(ws: Workspace, path: str, old_string: str, new_string: str) -> tuple[Path, str, str, str]:
    """(target, current text, new text, diff) for edit_file, without writing; ToolError unless exactly one match."""
    p, text = read_text_file(ws, path)
    rel = ws.display(p)
    if not old_string:
        raise ToolError("old_string is empty.", "Give the exact text to replace; use write_file to create a file.")
    if old_string == new_string:
        raise ToolError("old_string and new_string are the same; nothing would change.", "Give the replacement text in new_string.")
    if "\r\n" in text and "\n" in old_string and "\r\n" not in old_string:
        old_string = old_string.replace("\n", "\r\n")  # the file uses CRLF line ends
        new_string = new_string.replace("\r\n", "\n").replace("\n", "\r\n")
    count = text.count(old_string)
    if count == 0:
        hint = "Read the file again and copy the exact text, whitespace and indentation included."
        if re.match(r"^\s*\d+\t", old_string):
            hint = "Leave out the line-number prefixes that read_file shows; they are not part of the file."
        elif old_string.strip() and old_string.strip() in text:
            hint = "A match exists that differs in leading or trailing whitespace; copy the text exactly."
        raise ToolError(f"old_string was not found in {rel}.", hint)
    if count > 1:
        raise ToolError(
            f"old_string occurs {count} times in {rel}; it must match exactly once.",
            "Include more surrounding lines in old_string (and new_string) to make it unique.",
        )
    new_text = text.replace(old_string, new_string, 1)
    return p, text, new_text, unified_diff(text, new_text, rel)


def _diff_stats(diff: str) -> tuple[int, int]:
    plus = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    minus = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    return plus, minus


# ---- the tools ----------------------------------------------------------------------------------


def _read_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    p, text = read_text_file(ctx.workspace, args["path"])
    rel = ctx.workspace.display(p)
    out = numbered_lines(text, rel, args.get("start_line"), args.get("end_line"))
    return ToolResult(out, ok=True, meta={"path": rel, "lines": len(text.splitlines())})


def _list_dir(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    return ToolResult(list_directory(ctx.workspace, args.get("path", ".")), ok=True)


def _glob(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    found, total = glob_paths(ctx.workspace, args["pattern"], ctx)
    if not found:
        return ToolResult(f"No paths match {args['pattern']!r}.", ok=True, meta={"count": 0})
    lines = list(found)
    if total > len(found):
        lines.append(f"[{total - len(found):,} more matches not shown; use a narrower pattern]")
    return ToolResult("\n".join(lines), ok=True, meta={"count": total})


def _grep(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    out = grep_files(ctx.workspace, args["pattern"], args.get("path", "."), args.get("glob"), ctx)
    return ToolResult(out, ok=True)


def _write_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    content: str = args["content"]
    p, old_bytes, diff = plan_write(ctx.workspace, args["path"], content)
    rel = ctx.workspace.display(p)
    data = content.encode("utf-8")
    if old_bytes == data:
        return ToolResult(f"No change: {rel} already has this content.", ok=True, meta={"path": rel})
    p, created = safe_files.write_atomic(ctx.workspace, args["path"], data)
    ctx.undo.record(p, old_bytes, data, "write_file", created, workspace=ctx.workspace)
    n = len(content.splitlines())
    if old_bytes is None:
        msg = f"Created {rel} ({n} line{'s' if n != 1 else ''}, {len(data):,} bytes)."
    else:
        plus, minus = _diff_stats(diff)
        msg = f"Wrote {rel} ({n} lines): +{plus} -{minus} lines."
    return ToolResult(msg, ok=True, diff=diff, meta={"path": rel, "created": old_bytes is None})


def _edit_file(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    p, text, new_text, diff = plan_edit(ctx.workspace, args["path"], args["old_string"], args["new_string"])
    rel = ctx.workspace.display(p)
    data = new_text.encode("utf-8")
    p, _ = safe_files.write_atomic(ctx.workspace, args["path"], data)
    ctx.undo.record(p, text.encode("utf-8"), data, "edit_file", workspace=ctx.workspace)
    plus, minus = _diff_stats(diff)
    return ToolResult(f"Edited {rel}: +{plus} -{minus} lines.\n{diff}", ok=True, diff=diff, meta={"path": rel})


def _run_shell(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    timeout = ctx.timeout or 60.0
    res = run_shell_command(args["command"], ctx.workspace.root, timeout, ctx.cancel, SHELL_CAP)
    return process_result(res, timeout, "command")


def _python(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    timeout = ctx.timeout or 60.0
    res = run_python_code(args["code"], ctx.workspace.root, timeout, ctx.cancel, SHELL_CAP)
    return process_result(res, timeout, "python code")


_TIMEOUT_PROP = {"type": "number", "description": "Seconds before the process group is killed (default 60, at most 600)."}


def builtin_tools(web: dict[str, Any] | None = None) -> list[Tool]:
    """Fresh Tool objects for every built-in tool, read tools first; the web tools last (web_search only
    when `web`, the [tools.web] table, has a search_url)."""
    from glmchat.tools.web import web_tools

    return [*_read_tools(), *_write_tools(), *_execute_tools(), *web_tools(web)]


def _read_tools() -> list[Tool]:
    """read_file, list_dir, glob, grep: they only read (policy auto-read runs them inside the workspace unasked)."""
    return [
        Tool(
            "read_file",
            "Read a UTF-8 text file in the workspace. Each output line starts with its line number and a tab "
            "(not part of the file). Reads at most 2000 lines per call; use start_line/end_line for ranges "
            "(1-based, inclusive). Binary files are refused.",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "start_line": {"type": "integer", "description": "First line to read (default 1)."},
                    "end_line": {"type": "integer", "description": "Last line to read (default: end of file)."},
                },
                "required": ["path"],
            },
            "read",
            _read_file,
            timeout=30.0,
        ),
        Tool(
            "list_dir",
            "List a directory in the workspace: sub-directories first (ending in /), then files with sizes.",
            {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Directory relative to the workspace root (default \".\")."}},
                "required": [],
            },
            "read",
            _list_dir,
            timeout=30.0,
        ),
        Tool(
            "glob",
            "Find files and directories whose path (relative to the workspace root) matches a glob pattern. "
            "* and ? stay within one directory, ** spans any depth, {a,b} alternates: e.g. **/*.py, src/**/test_*.py. "
            ".git, node_modules, __pycache__ and virtualenvs are skipped.",
            {
                "type": "object",
                "properties": {"pattern": {"type": "string", "description": "Glob pattern, e.g. **/*.md"}},
                "required": ["pattern"],
            },
            "read",
            _glob,
            timeout=30.0,
        ),
        Tool(
            "grep",
            "Search text files for lines matching a Python regular expression. Returns 'file:line: text' "
            "lines (at most 200). Binary files, .git, node_modules and __pycache__ are skipped. A pattern "
            "that runs longer than 1 s on one line (catastrophic backtracking) is stopped with an error.",
            {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Python regular expression."},
                    "path": {"type": "string", "description": "File or directory to search (default \".\")."},
                    "glob": {"type": "string", "description": "Only search files whose name matches this glob, e.g. *.py (a glob with / matches the relative path)."},
                },
                "required": ["pattern"],
            },
            "read",
            _grep,
            timeout=30.0,
        ),
    ]


def _write_tools() -> list[Tool]:
    """write_file, edit_file: they change files; each change is recorded for /undo."""
    return [
        Tool(
            "write_file",
            "Create or overwrite a text file in the workspace with the given content (missing directories are "
            "created). Prefer edit_file for changing part of an existing file.",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "content": {"type": "string", "description": "The complete new content of the file."},
                },
                "required": ["path", "content"],
            },
            "write",
            _write_file,
            timeout=30.0,
        ),
        Tool(
            "edit_file",
            "Replace one exact occurrence of old_string with new_string in a text file. old_string must match "
            "the file exactly (whitespace included, without read_file's line-number prefixes) and occur exactly "
            "once; add surrounding lines to make it unique.",
            {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "old_string": {"type": "string", "description": "Exact text to replace."},
                    "new_string": {"type": "string", "description": "Replacement text."},
                },
                "required": ["path", "old_string", "new_string"],
            },
            "write",
            _edit_file,
            timeout=30.0,
        ),
    ]


def _execute_tools() -> list[Tool]:
    """run_shell, python: they run a process (own process group) in the workspace root."""
    return [
        Tool(
            "run_shell",
            "Run a shell command (/bin/sh -c) in the workspace root, without a terminal or input. Returns the "
            "exit code, stdout and stderr (long output is cut in the middle). The command and anything it "
            "started are killed on timeout; background processes are stopped when it ends.",
            {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The shell command line."},
                    "timeout": _TIMEOUT_PROP,
                },
                "required": ["command"],
            },
            "execute",
            _run_shell,
            timeout=60.0,
        ),
        Tool(
            "python",
            "Run Python code in a fresh interpreter subprocess with the workspace root as the current "
            "directory. Print what you want to see; returns the exit code, stdout and stderr.",
            {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Python source code to run."},
                    "timeout": _TIMEOUT_PROP,
                },
                "required": ["code"],
            },
            "execute",
            _python,
            timeout=60.0,
        ),
    ]
