"""Finding things in the workspace: glob patterns, the tree walk, and grep with a hard time limit.

Patterns come from the model (or a hostile file it read), so no match may run unbounded: both grep's
regular expressions and globs are matched by the `regex` package with `timeout=` (it stops
catastrophic backtracking such as `(a+)+$` mid-match) and `concurrent=True` (the GIL is released
while it matches, so the TUI keeps answering keys). One line may take at most `LINE_TIMEOUT`
seconds; the whole search stops at the call's deadline (the tool's timeout, or `GREP_TIMEOUT`).

The walk goes by directory fd (`os.fwalk`, never following links into directories) and opens each
file by name inside its directory with `O_NOFOLLOW | O_NONBLOCK` (`glmchat.regular_files`): FIFOs
and devices are skipped, a symlink is read only when it leads to a file inside the workspace.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Iterator

import regex

from glmchat.regular_files import open_regular, read_fd
from glmchat.tools.base import ToolContext
from glmchat.tools.safe_files import locate, open_file, open_in
from glmchat.tools.workspace import ToolError, Workspace

MAX_GLOB_RESULTS = 500
MAX_GREP_MATCHES = 200
MAX_GREP_FILE_BYTES = 5 * 1024 * 1024
GREP_LINE_CHARS = 300
BINARY_SNIFF = 8192
GREP_TIMEOUT = 30.0  # seconds for a whole search without a tool call's own deadline (/grep)
LINE_TIMEOUT = 1.0  # seconds one line (or one path, for a glob) may take to match
WHOLE_TIMEOUT = 0.5  # seconds one search over a whole file may take before grep goes line by line

SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".tox", ".idea"}
)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BACKTRACK_HINT = "Simplify it: nested repeats such as (a+)+ or (a|aa)+ backtrack without end; use plain text or an anchored pattern."


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first few KB mark a file as binary."""
    return b"\x00" in data[:BINARY_SNIFF]


@dataclass
class Budget:
    """The time a search may take (a monotonic deadline) and its cancel signal, checked as it goes."""

    ctx: ToolContext

    @classmethod
    def of(cls, ws: Workspace, ctx: ToolContext | None, timeout: float | None = None) -> "Budget":
        if ctx is not None and ctx.deadline is not None:
            return cls(ctx)
        seconds = timeout or (ctx.timeout if ctx is not None and ctx.timeout else GREP_TIMEOUT)
        cancel = ctx.cancel if ctx is not None else None
        return cls(ToolContext(ws, cancel=cancel, timeout=seconds, deadline=time.monotonic() + seconds))

    def check(self) -> None:
        self.ctx.check()

    def left(self) -> float:
        """Seconds until the deadline (raises the out-of-time ToolError when none are left)."""
        left = self.ctx.deadline - time.monotonic()
        if left <= 0:
            self.ctx.check()
        return left

    def match(self, fn: Any, subject: str, rel: str, line_no: int | None = None) -> Any:
        """`fn(subject)` (a compiled pattern's search or match) within the per-line and overall limits."""
        limit = self.ctx.deadline - time.monotonic()
        if limit > LINE_TIMEOUT:
            limit = LINE_TIMEOUT
        elif limit <= 0:
            self.ctx.check()
        try:
            return fn(subject, None, None, True, False, limit)  # (pos, endpos, concurrent, partial, timeout): keywords cost more than a short search
        except TimeoutError:
            if limit < LINE_TIMEOUT:  # the whole search ran out of time, not this line
                self.ctx.check()
                raise ToolError("The tool ran out of time.", "Narrow the request (a smaller path or pattern).") from None
            where = rel if line_no is None else f"{rel}:{line_no}"
            raise ToolError(f"The pattern was stopped after {LINE_TIMEOUT:g} s on {where}: it backtracks catastrophically.", _BACKTRACK_HINT) from None


def compile_regex(pattern: str) -> Any:
    """The compiled form of a grep pattern (Python regex syntax); ToolError when it is not valid."""
    try:
        return regex.compile(pattern)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise ToolError(f"Bad regular expression {pattern!r}: {exc}.", "Use Python regex syntax; escape ( [ . * with a backslash for literal text.") from None


def glob_to_regex(pattern: str) -> Any:
    """Compile a glob (`*`, `?`, `[abc]`, `{a,b}`, `**` for any depth) matching whole '/'-separated paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if close == -1:
                out.append(regex.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : close]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = close + 1
        elif c == "{":
            out.append("(?:")
            depth += 1
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
            i += 1
        else:
            out.append(regex.escape(c))
            i += 1
    out.append(")" * depth)
    try:
        return regex.compile("".join(out) + r"\Z", regex.DOTALL)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise ToolError(f"Bad glob pattern {pattern!r}: {exc}.", "Use *, ?, [abc], {a,b} and ** only.") from None


@dataclass
class Entry:
    """One name met by the walk: its directory's fd (valid while the walk stays there), lstat, relative path."""

    dir_fd: int
    name: str
    rel: str
    st: os.stat_result
    is_dir: bool


def walk(ws: Workspace, top_fd: int, top_rel: str, budget: Budget, dirs_too: bool = False) -> Iterator[Entry]:
    """Every file (and folder, with `dirs_too`) under the open folder `top_fd`, skipping VCS/cache
    folders and symlinks that lead out; sorted within each folder."""
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=top_fd, follow_symlinks=False):
        budget.check()
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        base = posixpath.normpath(posixpath.join(top_rel, dirpath))
        names = [(name, False) for name in sorted(filenames)] + ([(d, True) for d in dirnames] if dirs_too else [])
        for name, is_dir in names:
            rel = name if base == "." else f"{base}/{name}"
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode) and not ws.contains(rel):
                continue
            yield Entry(dir_fd, name, rel, st, is_dir)


def glob_paths(ws: Workspace, pattern: str, ctx: ToolContext | None = None) -> tuple[list[str], int]:
    """(matching paths relative to the root, sorted, capped; total number of matches)."""
    pattern = pattern.strip()
    if not pattern:
        raise ToolError("The glob pattern is empty.", "Give a pattern such as **/*.py.")
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ToolError(f"Glob pattern {pattern!r} must stay inside the workspace.", "Use a relative pattern such as src/**/*.py.")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    rx = glob_to_regex(pattern)
    budget = Budget.of(ws, ctx)
    found: list[str] = []
    total = 0
    root_fd = os.open(ws.root, _DIR_FLAGS)
    try:
        for entry in walk(ws, root_fd, ".", budget, dirs_too=True):
            if budget.match(rx.match, entry.rel, entry.rel):
                total += 1
                if len(found) < MAX_GLOB_RESULTS:
                    found.append(entry.rel + ("/" if entry.is_dir else ""))
    finally:
        os.close(root_fd)
    return sorted(found), total


def _read_entry(ws: Workspace, entry: Entry) -> bytes | None:
    """The bytes of a regular file met by the walk (a symlink: of its target inside); None to skip it."""
    try:
        if stat.S_ISLNK(entry.st.st_mode):
            with open_file(ws, entry.rel) as f:
                return f.read(MAX_GREP_FILE_BYTES) if f.st.st_size <= MAX_GREP_FILE_BYTES else None
        if not stat.S_ISREG(entry.st.st_mode) or entry.st.st_size > MAX_GREP_FILE_BYTES:
            return None
        fd, st = open_regular(entry.name, dir_fd=entry.dir_fd, follow=False)
    except (OSError, ToolError):
        return None
    try:
        return read_fd(fd, MAX_GREP_FILE_BYTES) if st.st_size <= MAX_GREP_FILE_BYTES else None
    finally:
        os.close(fd)


class _CapReached(Exception):
    """MAX_GREP_MATCHES lines were found and one more matched."""


# What a per-line search can see that a search of the whole text sees differently: text anchors,
# lookarounds, atomic groups and possessive repeats (they may commit to a match running into the next
# line), verbs, recursion, conditionals, flags turned off, fuzzy matching. Patterns with none of
# these are searched over the whole text at once (far fewer calls), every line found checked alone.
_PER_LINE_ONLY = regex.compile(
    r"""\\[AZzGKmM]
      | \(\*
      | \(\?(?![:|#]|P?<[A-Za-z_]|P=|[aiLmsux]+[:)])
      | [*+?}]\+
      | \{(?!\d*(?:,\d*)?\})""",
    regex.VERBOSE,
)


class _Grep:
    """One search: the pattern (per line, and over whole texts when that finds the same lines), the budget, the hits.

    Over a whole text, any line that matches alone lies within (or is touched by) a match of the same
    pattern with MULTILINE; a match within one line is that line's own, and each line that a match
    running across lines touches is checked alone; the search goes on from the next line. A
    whole-text search that takes longer than WHOLE_TIMEOUT (a pattern slow across lines) switches
    the rest of the search to one call per line.
    """

    def __init__(self, pattern: str, budget: Budget) -> None:
        self.rx, self.budget = compile_regex(pattern), budget
        self.whole = None if _PER_LINE_ONLY.search(pattern) else regex.compile(pattern, regex.MULTILINE)
        self.hits: list[str] = []
        self.more = False
        self.searched = 0

    def file(self, rel: str, data: bytes | None) -> bool:
        """Search one file's bytes; False once the match cap is reached."""
        if data is None or len(data) > MAX_GREP_FILE_BYTES or looks_binary(data):
            return True
        self.budget.check()
        self.searched += 1
        lines = data.decode("utf-8", errors="replace").splitlines()
        try:
            first = self._scan(rel, lines) if self.whole is not None else 0
            match, search = self.budget.match, self.rx.search
            for k in range(first, len(lines)):
                if not k & 1023:
                    self.budget.check()
                if match(search, lines[k], rel, k + 1):
                    self._hit(rel, k, lines[k])
        except _CapReached:
            self.more = True
            return False
        return True

    def _hit(self, rel: str, k: int, line: str) -> None:
        if len(self.hits) >= MAX_GREP_MATCHES:
            raise _CapReached
        text = line if len(line) <= GREP_LINE_CHARS else line[:GREP_LINE_CHARS] + " […]"
        self.hits.append(f"{rel}:{k + 1}: {text}")

    def _scan(self, rel: str, lines: list[str]) -> int:
        """Find the matching lines with searches over the whole text; the line to go on from one by one."""
        text = "\n".join(lines)
        starts = [0, *accumulate(len(line) + 1 for line in lines)]
        k = 0
        while k < len(lines):
            self.budget.check()
            left = self.budget.left()
            try:
                m = self.whole.search(text, starts[k], None, True, False, min(WHOLE_TIMEOUT, left))
            except TimeoutError:
                if left <= WHOLE_TIMEOUT:
                    self.budget.check()
                self.whole = None
                return k
            if m is None:
                break
            first = bisect_right(starts, m.start()) - 1
            last = max(first, bisect_right(starts, m.end() - 1) - 1)
            if m.end() <= starts[first] + len(lines[first]):  # within one line: it matches alone too (nothing here looks past it)
                self._hit(rel, first, lines[first])
            else:
                for j in range(first, last + 1):
                    if self.budget.match(self.rx.search, lines[j], rel, j + 1):
                        self._hit(rel, j, lines[j])
            k = last + 1
        return len(lines)


def grep_files(
    ws: Workspace, pattern: str, path: str = ".", glob: str | None = None, ctx: ToolContext | None = None, *, timeout: float | None = None
) -> str:
    """`file:line: text` for every line matching the regex `pattern` under `path` (capped).

    Stops with a ToolError when one line takes longer than LINE_TIMEOUT, or at the deadline of `ctx`
    (else `timeout`, else GREP_TIMEOUT seconds).
    """
    budget = Budget.of(ws, ctx, timeout)
    grep = _Grep(pattern, budget)
    name_rx = glob_to_regex(glob) if glob else None
    with locate(ws, path) as top:
        try:
            st = os.stat(top.name, dir_fd=top.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise ToolError(f"No such file or directory: {top.rel}.", "Check the path with list_dir.") from None
        if not stat.S_ISDIR(st.st_mode):
            opened = open_in(top)
            if opened is None:
                raise ToolError(f"{top.rel} changed while it was opened.", "Try again.")
            with opened:
                grep.file(top.rel, opened.read(MAX_GREP_FILE_BYTES) if opened.st.st_size <= MAX_GREP_FILE_BYTES else None)
        else:
            top_fd = os.open(top.name, _DIR_FLAGS, dir_fd=top.dir_fd)
            try:
                for entry in walk(ws, top_fd, top.rel, budget):
                    if name_rx is not None:
                        subject = entry.rel if "/" in (glob or "") else entry.name
                        if not budget.match(name_rx.match, subject, entry.rel):
                            continue
                    if not grep.file(entry.rel, _read_entry(ws, entry)):
                        break
            finally:
                os.close(top_fd)
    if not grep.hits:
        n = grep.searched
        return f"No matches for {pattern!r} in {top.rel} ({n} text file{'s' if n != 1 else ''} searched)."
    if grep.more:
        grep.hits.append(f"[more matches not shown: only the first {MAX_GREP_MATCHES} are listed; narrow the pattern, path or glob]")
    return "\n".join(grep.hits)
