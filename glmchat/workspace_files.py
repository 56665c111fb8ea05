"""The workspace's files as the `@` picker offers them: listed once (respecting .gitignore), ranked fuzzily.

`list_files(root)` walks the tree with `os.scandir` (symlinked folders are not followed, `.git` is
skipped), reads every `.gitignore` on the way with `pathspec` (git's own semantics: a deeper file's
rules win, `!` re-includes) and prunes ignored folders without entering them, so a `node_modules`
costs one check. It stops after MAX_FILES files. Callers run it on a worker thread and cache it.

`rank(query, paths)` is a cheap fuzzy match: the query's characters in order (a compiled regular
expression per query, so the scan over 50k paths is C-speed), then scored: a match in the file
name beats one spread over folders, a contiguous match beats a scattered one, shorter paths first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import pathspec

MAX_FILES = 100_000  # a walk stops here (a home directory is not a workspace)
MAX_GITIGNORE_BYTES = 256 * 1024
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn"})

_Spec = tuple[str, pathspec.PathSpec]  # (folder relative to the root, with a trailing "/" or ""), its rules


def _read_gitignore(folder: str) -> pathspec.PathSpec | None:
    """The rules of `folder`/.gitignore, or None (no file, unreadable, not a regular file)."""
    from glmchat.regular_files import open_regular

    try:
        fd, _st = open_regular(os.path.join(folder, ".gitignore"))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_GITIGNORE_BYTES)
    try:
        return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", errors="replace").splitlines())
    except ValueError:  # a pattern pathspec cannot compile (GitWildMatchPatternError): that file's rules are left out
        return None


def _ignored(rel: str, specs: list[_Spec]) -> bool:
    """Whether the deepest .gitignore with a rule for `rel` ignores it (a folder's `rel` ends in "/")."""
    for base, spec in reversed(specs):
        result = spec.check_file(rel[len(base):])
        if result.include is not None:
            return bool(result.include)
    return False


def list_files(root: str | os.PathLike[str], limit: int = MAX_FILES) -> list[str]:
    """Paths (relative, with "/") of the regular files under `root` that git would not ignore, sorted."""
    top = os.fspath(root)
    out: list[str] = []
    stack: list[tuple[str, list[_Spec]]] = [("", [])]
    while stack and len(out) < limit:
        rel_dir, inherited = stack.pop()
        folder = os.path.join(top, rel_dir) if rel_dir else top
        specs = inherited
        own = _read_gitignore(folder)
        if own is not None:
            specs = [*inherited, (rel_dir, own)]
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = rel_dir + entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError:
                continue
            if is_dir:
                if entry.name not in ALWAYS_SKIPPED and not _ignored(rel + "/", specs):
                    stack.append((rel + "/", specs))
            elif is_file and not _ignored(rel, specs):
                out.append(rel)
                if len(out) >= limit:
                    break
    out.sort()
    return out


def _pattern(query: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(c) for c in query), re.IGNORECASE)


def _score(query: str, path: str, span: tuple[int, int]) -> tuple[int, int, int]:
    """Smaller is better: (kind, spread, length)."""
    low, q = path.lower(), query.lower()
    name_at = low.rfind("/") + 1
    if q in low[name_at:]:
        kind = 0 if low[name_at:].startswith(q) else 1
    elif q in low:
        kind = 2
    elif span[0] >= name_at:
        kind = 3
    else:
        kind = 4
    return kind, span[1] - span[0], len(path)


def rank(query: str, paths: Iterable[str], limit: int = 50) -> list[str]:
    """The paths that hold `query`'s characters in order, best first; all (in order) for an empty query."""
    query = query.strip()
    if not query:
        return list(paths)[:limit] if limit else list(paths)
    search = _pattern(query).search
    scored: list[tuple[tuple[int, int, int], str]] = []
    for path in paths:
        m = search(path)
        if m is not None:
            scored.append((_score(query, path, m.span()), path))
    scored.sort()
    return [p for _s, p in scored[:limit]]

