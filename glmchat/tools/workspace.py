"""The workspace: the one directory tree tools may touch.

`Workspace.resolve()` turns a path the model (or the user) wrote into an absolute path, following
symlinks, and refuses anything that lands outside the root: `../` climbs, absolute paths elsewhere,
symlinks (to files or directories) pointing out. Its answer is for deciding and showing only: it
can be stale by the time anything is opened (a folder swapped for a symlink in between), so every
read and write goes through `glmchat.tools.safe_files`, which walks from the root by file descriptor.
"""

from __future__ import annotations

import os
from pathlib import Path

from glmchat.errors import GlmchatError


class ToolError(GlmchatError):
    """An expected tool failure; its message goes back to the model (or the user) as is."""


class OutsideWorkspaceError(ToolError):
    """A path resolves to somewhere outside the workspace root."""


class Workspace:
    """A root directory; every path a tool uses is resolved against it and must stay inside it."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        base = Path(root) if root is not None else Path.cwd()
        resolved = base.expanduser().resolve()
        if not resolved.is_dir():
            raise ToolError(f"Workspace {base} is not a directory.", "Pass an existing directory with --workspace.")
        self.root: Path = resolved

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def resolve(self, path: str | os.PathLike[str] = ".") -> Path:
        """The absolute, symlink-free form of `path` (relative to the root); refuses paths outside the root."""
        text = os.fspath(path)
        if not isinstance(text, str):
            text = os.fsdecode(text)
        check_text(text)
        raw = Path(text.strip() or ".").expanduser()
        candidate = raw if raw.is_absolute() else self.root / raw
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise ToolError(f"Cannot resolve path {text}: {exc}.", "Check for a symlink loop.") from None
        if not resolved.is_relative_to(self.root):
            raise self.outside(text, via_symlink=not _lexically_outside(candidate, self.root))
        return resolved

    def outside(self, text: str, *, via_symlink: bool) -> OutsideWorkspaceError:
        """The error for a path that leads out of the root (on its own, or through a symlink)."""
        via = " (through a symlink)" if via_symlink else ""
        return OutsideWorkspaceError(
            f"Path {text} is outside the workspace {self.root}{via}.",
            "Only files inside the workspace can be used; give a path relative to it.",
        )

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """True when `path` resolves inside the root (never raises)."""
        try:
            self.resolve(path)
        except ToolError:
            return False
        return True

    def display(self, path: Path) -> str:
        """`path` relative to the root, with forward slashes ("." for the root itself)."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return rel.as_posix() or "."


def check_text(text: str) -> None:
    """Refuse a path with a NUL character (no file name can hold one)."""
    if "\x00" in text:
        raise ToolError(f"Path {text!r} contains a NUL character.", "Use a plain file name.")


def _lexically_outside(candidate: Path, root: Path) -> bool:
    """True when the path climbs out on its own (without following any symlink)."""
    norm = Path(os.path.normpath(candidate))
    return not norm.is_relative_to(root)
