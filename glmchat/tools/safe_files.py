"""Files inside the workspace, reached by file descriptor: no check-then-open, regular files only.

A path checked as inside the workspace and then opened by name can be swapped for a symlink in
between; so nothing that reads or writes opens a path by name from the top. Instead:

- `locate(ws, path)` opens the root and walks down one name at a time with
  `os.open(name, O_DIRECTORY | O_NOFOLLOW, dir_fd=parent)`, reading symlinks itself: a link is
  followed only while it stays beneath the root, and `..` never climbs above it. The result is the
  verified directory (an open fd) and the final name in it.
- `open_file()` opens that name with `O_NOFOLLOW | O_NONBLOCK` and checks it with `fstat`
  (`glmchat.regular_files`): FIFOs, devices and sockets are refused at once; a name swapped for a
  symlink after the check fails to open and is resolved again.
- `write_atomic()` writes a temporary file in the verified directory (by its fd) and renames it
  over the name (`rename(src_dir_fd=, dst_dir_fd=)`): a symlink swapped in meanwhile is replaced,
  never written through.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from glmchat.regular_files import NotRegularFileError, file_kind, open_regular, read_fd
from glmchat.tools.workspace import ToolError, Workspace, check_text

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # symlinks followed in one path (as the kernel's own limit)
RETRIES = 8  # a name that keeps turning into a symlink between the check and the open
REGULAR_ONLY_HINT = "Only regular files are read or written (a FIFO or a device could block)."


class NoSuchFileError(ToolError):
    """The path (inside the workspace) names nothing; `path`/`rel` say where it would be."""

    def __init__(self, ws: Workspace, parts: tuple[str, ...], message: str | None = None, hint: str | None = None) -> None:
        self.path = ws.root.joinpath(*parts)
        self.rel = "/".join(parts) or "."
        super().__init__(message or f"No such file: {self.rel}.", hint or "Check the name with list_dir or glob.")


class IsADirectory(ToolError):
    """The path names a directory where a file was expected."""

    def __init__(self, rel: str, path: Path) -> None:
        self.rel, self.path = rel, path
        super().__init__(f"{rel} is a directory, not a file.", "Use list_dir to see what it holds.")


class NotADirectory(ToolError):
    """The path names a file where a folder was expected."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        super().__init__(f"{rel} is a file, not a directory.", "Use read_file to read it.")


@dataclass
class Located:
    """A verified directory (open fd, owned) and the name of the entry in it; `parts` lead from the root."""

    ws: Workspace
    dir_fd: int
    name: str  # "." when the path names a directory itself (the root, "src/", "a/..")
    parts: tuple[str, ...]
    created: tuple[Path, ...] = ()  # folders made on the way (outermost first), with create_dirs

    @property
    def rel(self) -> str:
        return "/".join(self.parts) or "."

    @property
    def path(self) -> Path:
        return self.ws.root.joinpath(*self.parts)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> "Located":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _under(components: list[str], root: Path) -> list[str] | None:
    """The components after the root's own when `components` start with them, else None."""
    top = list(root.parts[1:])
    return components[len(top) :] if components[: len(top)] == top else None


def _absolute_parts(ws: Workspace, target: str) -> list[str] | None:
    """An absolute path as names below the root (None: it leads elsewhere)."""
    rel = _under([c for c in target.split("/") if c not in ("", ".")], ws.root)
    if rel is None:  # e.g. /tmp/ws for a root of /private/tmp/ws: where it really leads decides
        rel = _under([c for c in os.path.realpath(target).split("/") if c], ws.root)
    return rel


def _start(ws: Workspace, path: str | os.PathLike[str]) -> tuple[str, list[str]]:
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    check_text(text)
    raw = os.path.expanduser(text.strip() or ".")
    if not raw.startswith("/"):
        return text, raw.split("/")
    rel = _absolute_parts(ws, raw)
    if rel is None:
        raise ws.outside(text, via_symlink=False)
    return text, rel


def _readlink(dir_fd: int, name: str) -> str | None:
    """The target of the symlink `name` in `dir_fd`; None when it is not a symlink (or is gone)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
            return None
        raise


class _Walk:
    """One resolution: the stack of open directory fds from the root down, and the names left to walk."""

    def __init__(self, ws: Workspace, text: str, parts: list[str]) -> None:
        self.ws, self.text = ws, text
        self.todo = list(reversed(parts))
        self.fds = [os.open(ws.root, _DIR_FLAGS)]
        self.names: list[str] = []
        self.links = 0
        self.created: list[Path] = []

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    def follow(self, target: str) -> None:
        """Continue with a symlink's target (relative to the current directory, or absolute)."""
        self.links += 1
        if self.links > MAX_LINKS:
            raise ToolError(f"Cannot resolve path {self.text}: too many levels of symbolic links.", "Check for a symlink loop.")
        if target.startswith("/"):
            rel = _absolute_parts(self.ws, target)
            if rel is None:
                raise self.ws.outside(self.text, via_symlink=True)
            while len(self.fds) > 1:
                os.close(self.fds.pop())
            self.names.clear()
            self.todo.extend(reversed(rel))
        else:
            self.todo.extend(reversed(target.split("/")))

    def up(self) -> None:
        if len(self.fds) > 1:
            os.close(self.fds.pop())
            self.names.pop()
            return
        # `..` at the root: allowed only when the rest leads back in (`../ws/x` for a root named ws)
        rest = list(reversed(self.todo))
        rel = _absolute_parts(self.ws, os.path.join(self.ws.root.parent, *rest)) if rest else None
        if rel is None:
            raise self.ws.outside(self.text, via_symlink=self.links > 0)
        self.todo = list(reversed(rel))

    def down(self, name: str, create: bool) -> None:
        """Enter the directory `name` (following it if it is a symlink; making it with `create`)."""
        for _ in range(RETRIES):
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=self.fds[-1])
            except FileNotFoundError:
                if not create:
                    rest = [n for n in reversed(self.todo) if n not in ("", ".")]
                    raise NoSuchFileError(self.ws, tuple(os.path.normpath("/".join([*self.names, name, *rest])).split("/"))) from None
                try:
                    os.mkdir(name, dir_fd=self.fds[-1])
                    self.created.append(self.ws.root.joinpath(*self.names, name))
                except FileExistsError:
                    pass
                continue
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _readlink(self.fds[-1], name)
                if target is None:
                    raise ToolError(f"{'/'.join([*self.names, name])} is not a directory.", "Check the path with list_dir.") from None
                self.follow(target)
                return
            self.fds.append(fd)
            self.names.append(name)
            return
        raise ToolError(f"{self.text} kept changing while it was opened.", "Try again.")

    def run(self, create: bool, follow_final: bool) -> Located:
        while self.todo:
            name = self.todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                self.up()
            elif any(n not in ("", ".") for n in self.todo):
                self.down(name, create)
            else:  # the final name
                target = _readlink(self.fds[-1], name) if follow_final else None
                if target is None:
                    self.todo.clear()
                    return Located(self.ws, self.fds.pop(), name, (*self.names, name), tuple(self.created))
                self.follow(target)
        return Located(self.ws, self.fds.pop(), ".", tuple(self.names), tuple(self.created))


def locate(ws: Workspace, path: str | os.PathLike[str], *, create_dirs: bool = False, follow_final: bool = True) -> Located:
    """The directory holding what `path` names (verified beneath the root, open) and the name in it.

    Symlinks are followed while they stay inside (the final one too, unless `follow_final` is false);
    `create_dirs` makes missing folders on the way. Raises OutsideWorkspaceError, NoSuchFileError
    (a folder on the way is missing), or ToolError.
    """
    text, parts = _start(ws, path)
    walk = _Walk(ws, text, parts)
    try:
        return walk.run(create_dirs, follow_final)
    except OSError as exc:
        raise ToolError(f"Cannot open {text}: {exc.strerror or exc}.", "Check the path and its permissions.") from None
    finally:
        walk.close()


@dataclass
class OpenFile:
    """A regular file of the workspace, open for reading (fd owned); `path`/`rel` say which."""

    fd: int
    st: os.stat_result
    path: Path
    rel: str

    def read(self, limit: int | None = None) -> bytes:
        return read_fd(self.fd, limit)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "OpenFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _not_regular(rel: str, kind: str, what: str = "opened") -> ToolError:
    return ToolError(f"{rel} is {kind}, not a regular file; it was not {what}.", REGULAR_ONLY_HINT)


def open_in(located: Located) -> OpenFile | None:
    """Open the regular file `located` names; None when it turned into a symlink since it was checked."""
    try:
        fd, st = open_regular(located.name, dir_fd=located.dir_fd, follow=False)
    except FileNotFoundError:
        raise NoSuchFileError(located.ws, located.parts) from None
    except IsADirectoryError:
        raise IsADirectory(located.rel, located.path) from None
    except NotRegularFileError as exc:
        if stat.S_ISLNK(exc.mode):
            return None
        raise _not_regular(located.rel, exc.kind) from None
    except OSError as exc:
        raise ToolError(f"Cannot open {located.rel}: {exc.strerror or exc}.", "Check its permissions.") from None
    return OpenFile(fd, st, located.path, located.rel)


def open_file(ws: Workspace, path: str | os.PathLike[str]) -> OpenFile:
    """The regular file `path` names inside the workspace, open for reading.

    Raises NoSuchFileError, IsADirectory, OutsideWorkspaceError, or ToolError (a FIFO, device or
    socket: refused at once; unreadable).
    """
    for _ in range(RETRIES):
        with locate(ws, path) as located:
            opened = open_in(located)
        if opened is not None:
            return opened
    raise ToolError(f"{path} kept changing while it was opened.", "Try again.")


def open_dir(ws: Workspace, path: str | os.PathLike[str]) -> tuple[int, Located]:
    """(fd, where) of the folder `path` names inside the workspace (fd owned by the caller; `where` closed).

    Raises NoSuchFileError, NotADirectoryError (a file: the ToolError subclass below), OutsideWorkspaceError.
    """
    for _ in range(RETRIES):
        with locate(ws, path) as located:
            try:
                return os.open(located.name, _DIR_FLAGS, dir_fd=located.dir_fd), located
            except FileNotFoundError:
                raise NoSuchFileError(ws, located.parts) from None
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise ToolError(f"Cannot open {located.rel}: {exc.strerror or exc}.", "Check its permissions.") from None
                if _readlink(located.dir_fd, located.name) is None:
                    raise NotADirectory(located.rel) from None
    raise ToolError(f"{path} kept changing while it was opened.", "Try again.")


def read_bytes_or_none(ws: Workspace, path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of a regular file in the workspace; None when there is none (or a folder on the way is missing)."""
    try:
        with open_file(ws, path) as f:
            return f.read()
    except NoSuchFileError:
        return None


def _replace(dir_fd: int, name: str, data: bytes, old: os.stat_result | None) -> None:
    """Write `data` to a new file beside `name` and rename it over `name` (keeping the old file's mode)."""
    tmp = f".glmchat-{secrets.token_hex(6)}.tmp"
    mode = 0o600 if old is not None else 0o666  # the umask applies to a new file's mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if old is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(fh.fileno(), old.st_uid, old.st_gid)
                    except OSError:
                        pass  # only root may give a file away; it stays ours
            os.fsync(fh.fileno())
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def write_atomic(ws: Workspace, path: str | os.PathLike[str], data: bytes) -> tuple[Path, tuple[Path, ...]]:
    """Put `data` in the file `path` names (missing folders are made); (the file, folders made).

    The file is replaced by a rename inside its verified folder; what is there must be a regular file
    (or nothing): a folder, FIFO, device or socket is refused.
    """
    created: list[Path] = []
    for _ in range(RETRIES):
        with locate(ws, path, create_dirs=True) as located:
            created.extend(located.created)
            if located.name == ".":
                raise IsADirectory(located.rel, located.path)
            try:
                old: os.stat_result | None = os.stat(located.name, dir_fd=located.dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and stat.S_ISLNK(old.st_mode):
                continue  # turned into a symlink since the walk: resolve again
            if old is not None and stat.S_ISDIR(old.st_mode):
                raise IsADirectory(located.rel, located.path)
            if old is not None and not stat.S_ISREG(old.st_mode):
                raise _not_regular(located.rel, file_kind(old.st_mode), "replaced")
            try:
                _replace(located.dir_fd, located.name, data, old)
            except OSError as exc:
                raise ToolError(f"Cannot write {located.rel}: {exc.strerror or exc}.", "Check the folder's permissions and free space.") from None
            return located.path, tuple(created)
    raise ToolError(f"{path} kept changing while it was written.", "Try again.")


def remove_entry(ws: Workspace, path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Remove the file (or, with `directory`, the empty folder) `path` names; the name itself, never a link's target."""
    with locate(ws, path, follow_final=False) as located:
        if located.name == ".":
            raise ToolError(f"Cannot remove {located.rel} here.", "Remove it by hand.")
        if directory:
            os.rmdir(located.name, dir_fd=located.dir_fd)
        else:
            os.unlink(located.name, dir_fd=located.dir_fd)
