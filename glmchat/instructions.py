"""Project instructions: the `AGENTS.md` files that go into the system prompt.

Read, in this order: the user-wide `AGENTS.md` in the config directory, then the project's, from the
repository root (the nearest folder above the workspace holding `.git`; without one, only the
workspace itself) inward to the workspace. Each file is capped at `CAP` bytes (the text says where
it was cut), read through `open_regular` (a FIFO or device named AGENTS.md is skipped, never waited
on), undecodable bytes replaced. A project file whose real path leads out of the project (a symlink
to ~/.ssh/…) is skipped: a cloned repository must not send the user's other files to the model.

`load_instructions()` returns what it read with the files' signatures; `still_current()` tells, from
a few `stat` calls, whether any file appeared, changed or went away since (so the request builder
re-reads only then, and the system prompt stays byte-identical from turn to turn otherwise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from glmchat.regular_files import NotRegularFileError, open_regular, read_fd
from glmchat.settings import config_dir
from glmchat.units import size_text

FILENAME = "AGENTS.md"
CAP = 32 * 1024  # bytes of one file that go into the prompt


@dataclass(frozen=True)
class InstructionFile:
    path: Path
    text: str  # as it goes into the prompt (a cut one ends with a line saying so)
    cut: bool = False
    size: int = 0  # bytes on disk


@dataclass
class Instructions:
    files: list[InstructionFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files skipped, files cut: for a notice
    signature: tuple = ()  # (path, stat key) of every place looked at

    def text(self) -> str:
        """The instructions as one block for the system prompt ('' when there are none)."""
        return "\n\n".join(f"Instructions from {f.path}:\n\n{f.text.strip()}" for f in self.files if f.text.strip())


def repository_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds `.git` (a folder or a worktree's file); None if none."""
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return None


def instruction_paths(workspace: Path, user_dir: Path | None = None) -> list[tuple[Path, Path | None]]:
    """(candidate AGENTS.md, the folder it must stay inside, or None for the user's own) in prompt order."""
    user = (user_dir or config_dir()) / FILENAME
    root = repository_root(workspace) or workspace
    chain = [workspace, *[p for p in workspace.parents if p.is_relative_to(root)]]
    return [(user, None)] + [(folder / FILENAME, root) for folder in reversed(chain)]


def _stat_key(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)


def signature(paths: list[tuple[Path, Path | None]]) -> tuple:
    return tuple((str(p), _stat_key(p)) for p, _ in paths)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _cut(data: bytes) -> bytes:
    """The first CAP bytes, backed off to a character boundary."""
    end = CAP
    while end > CAP - 4 and end < len(data) and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def read_one(path: Path, inside: Path | None) -> InstructionFile | str | None:
    """The file's instructions; a problem (str) when it cannot be used; None when there is none."""
    if not os.path.lexists(path):
        return None
    if inside is not None:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return f"{path} was skipped: its symlinks cannot be resolved."
        if not real.is_relative_to(inside.resolve()):
            return f"{path} was skipped: it leads outside {inside} (a symlink)."
    try:
        fd, _st = open_regular(path)
    except FileNotFoundError:
        return f"{path} was skipped: it is a broken symlink."
    except NotRegularFileError as exc:
        return f"{path} was skipped: it is {exc.kind}, not a regular file."
    except OSError as exc:
        return f"{path} was skipped: {exc.strerror or exc}."
    try:
        data = read_fd(fd, CAP)
    except OSError as exc:
        return f"{path} was skipped: {exc.strerror or exc}."
    finally:
        os.close(fd)
    if len(data) <= CAP:
        return InstructionFile(path, _decode(data), size=len(data))
    size = _stat_key(path)
    total = size[2] if size else len(data)
    text = _decode(_cut(data)) + f"\n\n[{FILENAME} cut here: only its first {size_text(CAP)} of {size_text(total)} are used.]"
    return InstructionFile(path, text, cut=True, size=total)


def load_instructions(workspace: Path, user_dir: Path | None = None) -> Instructions:
    """Every AGENTS.md that applies to `workspace`, user-wide first, then outer → inner."""
    paths = instruction_paths(workspace, user_dir)
    found = Instructions(signature=signature(paths))
    for path, inside in paths:
        got = read_one(path, inside)
        if isinstance(got, str):
            found.problems.append(got)
        elif got is not None:
            found.files.append(got)
            if got.cut:
                found.problems.append(f"{path} is {size_text(got.size)}: only its first {size_text(CAP)} go into the prompt.")
    return found


def still_current(found: Instructions, workspace: Path, user_dir: Path | None = None) -> bool:
    """True when no AGENTS.md appeared, changed or went away since `found` was read."""
    return signature(instruction_paths(workspace, user_dir)) == found.signature
