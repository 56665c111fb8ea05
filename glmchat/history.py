"""Saved conversations as the front ends see them: one facade for `glmchat history` and the TUI.

    from glmchat.history import History
    with History() as history:               # opens the default Store; history.notice once, if set
        for conv in history.list(limit=20):  # most recent activity first
            ...
        path = history.export(conv.id, "md")  # ./glmchat-<id>.md

Both front ends list, show, rename, delete, search, export and import conversations through these
methods, so the two cannot drift apart. The facade holds no state beyond its `Store`; a `ChatSession`
that records turns takes `history.store`. Import-light: sqlite (through the store) and the standard
library only; no Textual, no llama_cpp.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glmchat.errors import UsageError
from glmchat.private_files import private_dir, write_private
from glmchat.run_settings import RunSettings
from glmchat.store import Conversation, ImportFormatError, Message, SearchHit, Store, clean_text

EXPORT_FORMATS = ("md", "json")
EXPORT_HINT = "Pick another path: /export md PATH"  # the TUI's; `glmchat history export -o` passes its own
IMPORT_HINT = "Import a file written by `glmchat history export ID --format json`."
MAX_IMPORT_CHARS = 512 * 2**20  # an export larger than this is not one glmchat wrote


class History:
    """The conversation operations of `glmchat history` and the TUI, over one `Store`.

    Errors are the store's `GlmchatError`s (`NotFoundError` for an unknown id, `UsageError` for an
    empty title, `ImportFormatError` for a bad import) plus a `UsageError` when an export cannot be
    written. Usable as a context manager; `close()` closes the store.
    """

    def __init__(self, store: Store | None = None, *, read_only_ok: bool = False) -> None:
        """Wrap `store`, or open the default database (settings.db_path()) when none is given.

        A database this user cannot write raises `UnwritableError` (its hint says what to do); with
        `read_only_ok` (commands that only read) it opens read-only instead, `notice` says so, and
        every change raises `UnwritableError`. It is never moved aside or replaced.
        """
        self.store = store if store is not None else Store(read_only_ok=read_only_ok)

    # ---- lifetime -------------------------------------------------------------------------------

    @property
    def notice(self) -> str | None:
        """The store's startup notice (a damaged database was moved aside, or it is open read-only), shown
        once; or None."""
        return getattr(self.store, "notice", None)

    @property
    def read_only(self) -> bool:
        """True when the database could only be opened read-only (see `__init__`)."""
        return bool(getattr(self.store, "read_only", False))

    def close(self) -> None:
        """Close the store; the facade is unusable afterwards."""
        self.store.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading --------------------------------------------------------------------------------

    def list(self, limit: int | None = None, query: str | None = None) -> list[Conversation]:
        """Conversations, most recent activity first; at most `limit`, titles containing `query`."""
        return self.store.list_conversations(limit=limit, query=query)

    def most_recent(self) -> Conversation | None:
        """The conversation with the latest activity (what `--continue` reopens), or None."""
        return self.store.most_recent()

    def get(self, cid: int) -> Conversation:
        """One conversation's record (title, model, counts). Raises NotFoundError."""
        return self.store.get_conversation(cid)

    def run_settings(self, cid: int) -> RunSettings:
        """What conversation `cid` ran on (model file or quant, endpoint, context, profile, thinking),
        the one lookup `ask -c`, `glmchat -c` and `bench` continue from. Raises NotFoundError."""
        return RunSettings.of(self.store.get_conversation(cid))

    def keep_profile(self, cid: int, profile: str) -> None:
        """Record that conversation `cid` goes on with `profile` (an explicit --profile when reopened)."""
        self.store.update_conversation(cid, profile=profile)

    def messages(self, cid: int) -> list[Message]:
        """The stored messages of conversation `cid`, in order, for rendering a transcript."""
        return self.store.messages(cid)

    def search(self, text: str, limit: int = 50, *, markers: tuple[str, str] = ("«", "»")) -> list[SearchHit]:
        """Full-text search over every conversation; snippets wrap the found words in `markers`."""
        return self.store.search(text, limit=limit, markers=markers)

    # ---- changing -------------------------------------------------------------------------------

    def rename(self, cid: int, title: str) -> Conversation:
        """Give conversation `cid` a new title. Raises UsageError on an empty one, NotFoundError."""
        return self.store.rename(cid, title)

    def delete(self, cid: int) -> None:
        """Delete conversation `cid`, all its messages and its file history (/rewind). Raises NotFoundError."""
        from glmchat.tools.file_history import remove_conversation_folder

        self.store.delete(cid)
        remove_conversation_folder(self.store.path, cid)

    def import_text(self, text: str, source: str = "the input") -> Conversation:
        """Add a conversation from the text of a JSON export (it gets a new id).

        Anything wrong is one ImportFormatError naming `source` or the field (not JSON, over
        MAX_IMPORT_CHARS, nested too deep, a bad type or range, see store.export.from_json), and then
        nothing is written.
        """
        if len(text) > MAX_IMPORT_CHARS:
            raise ImportFormatError(f"{source} is larger than {MAX_IMPORT_CHARS // 2**20} MiB.", IMPORT_HINT)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImportFormatError(f"{source} is not JSON ({exc}).", IMPORT_HINT) from None
        except RecursionError:
            raise ImportFormatError(f"{source} nests JSON too deeply to be an export.", IMPORT_HINT) from None
        return self.store.import_json(data)

    # ---- export ---------------------------------------------------------------------------------

    def to_json(self, cid: int) -> dict[str, Any]:
        """Everything about conversation `cid` as lossless JSON data (what `import_text` reads back)."""
        return self.store.export_json(cid)

    def render(self, cid: int, fmt: str = "md", *, thinking: bool = False) -> str:
        """Conversation `cid` as the text of an export: "md" (readable; `thinking` adds the model's
        thinking as <details>) or "json" (lossless, indented, newline-terminated)."""
        if fmt == "json":
            return json.dumps(self.to_json(cid), ensure_ascii=False, indent=2) + "\n"
        if fmt == "md":
            return self.store.export_markdown(cid, thinking=thinking)
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")

    def export(self, cid: int, fmt: str = "md", path: Path | None = None, *, thinking: bool = False,
               hint: str = EXPORT_HINT) -> Path:
        """Render conversation `cid` (see `render`) and write it to `path`; returns the path written.

        The default path is ./glmchat-<cid>.<fmt>. Missing parent folders are created and the file is
        replaced whole (written beside it, then renamed). When it cannot be written: UsageError
        "Cannot write PATH: REASON." with `hint` (each front end names its own way to pick a path).
        """
        path = Path.cwd() / f"glmchat-{cid}.{fmt}" if path is None else Path(path)
        write_text(path, self.render(cid, fmt, thinking=thinking), hint)
        return path


def write_text(path: Path, text: str, hint: str) -> None:
    """Write `text` to `path` whole (a temporary file beside it, then a rename), creating its folder.

    The file is private (0600) and folders it creates are 0700: an export holds the conversation.
    Raises UsageError("Cannot write PATH: REASON.", hint) on any OSError and leaves nothing behind.
    """
    try:
        private_dir(path.parent)
        write_private(path, clean_text(text).encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"Cannot write {path}: {exc.strerror or exc}.", hint) from None
