"""The conversation store: one SQLite file (WAL), safe for several threads and several processes.

Every operation runs in its own transaction on a pooled connection (one per concurrent caller), so a
writer thread and UI reads never wait on each other inside this process. Writes start with
BEGIN IMMEDIATE and are retried on SQLITE_BUSY until `lock_timeout` runs out, so two glmchat
processes writing at once both succeed. Text is made storable at this boundary (`clean_text`): text
that is not valid Unicode (lone surrogates, e.g. a file name that is not UTF-8) is saved with U+FFFD
in its place, never refused. Opening, and what is done about a damaged or read-only file, is in
connection.py.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from glmchat.errors import UsageError
from glmchat.private_files import private_dir
from glmchat.store import export as _export
from glmchat.store import migrations
from glmchat.store.connection import (
    access_hint,
    cannot_save,
    connect,
    create_private,
    damage_confirmed,
    foreign_keys_off,
    is_busy,
    is_corrupt,
    is_unwritable,
    move_aside,
    read_only_notice,
)
from glmchat.store.errors import NotFoundError, StoreError, UnwritableError
from glmchat.store.liveness import writer_alive, writer_info
from glmchat.store.models import ROLES, STATUSES, Conversation, Message, SearchHit, normalize_tool_calls
from glmchat.store.rows import (
    CONV_SELECT,
    CONVERSATION_COLUMNS,
    INSERT_CONVERSATION,
    INSERT_MESSAGE,
    MESSAGE_COLUMNS,
    MSG_SELECT,
    clean_fields,
    clean_text,
    dumps,
    loads,
    row_conversation,
    row_message,
    usage_dict,
)
from glmchat.store.search import search_query
from glmchat.store.titles import auto_title
from glmchat.store.writer import StreamWriter

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000


class Store:
    """Conversations and their messages in SQLite. Open once per process; close() when done.

    A database this user cannot write is never moved aside or replaced: opening it raises
    `UnwritableError` (what to do in its hint), or, with `read_only_ok` (the reading commands of
    `glmchat history`), opens it read-only: `read_only` is then True, `notice` says why, and every
    change raises `UnwritableError`.
    """

    def __init__(self, path: Path | str | None = None, *, lock_timeout: float = 30.0, read_only_ok: bool = False):
        if path is None:
            from glmchat.settings import db_path

            path = db_path()
        self.path = Path(path).expanduser()
        self.lock_timeout = lock_timeout
        self.read_only_ok = read_only_ok
        self.read_only = False
        self.notice: str | None = None  # shown once by the UI/CLI (e.g. "the old file was moved aside")
        self.recovered: list[int] = []  # ids of messages marked interrupted at open
        self._why_read_only: BaseException | None = None
        self._immutable = False
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self._open()

    # ---- opening --------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        busy_ms = max(1, min(BUSY_TIMEOUT_MS, int(self.lock_timeout * 1000)))
        conn = connect(self.path, busy_ms, read_only=self.read_only, immutable=self._immutable)
        with self._pool_lock:
            self._all.append(conn)
        return conn

    def _open(self) -> None:
        try:
            private_dir(self.path.parent)
        except OSError as exc:
            raise StoreError(f"Cannot create {self.path.parent}: {exc.strerror or exc}.",
                             "Check the permissions, or set GLMCHAT_DATA_DIR to a writable folder.") from None
        create_private(self.path)
        try:
            self._prepare()
        except UnwritableError as exc:
            self._close_all()
            self._unwritable(exc.cause or exc)
        except StoreError:
            self._close_all()
            raise
        except sqlite3.DatabaseError as exc:
            self._close_all()
            if is_unwritable(exc):
                self._unwritable(exc)
            else:
                self._damaged(exc)

    def _prepare(self) -> None:
        """Check the version, run pending migrations, then mark crashed streams interrupted."""
        conn = self._connect()
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema: detects damage
        self._check_version(migrations.user_version(conn))
        self._idle.append(conn)
        if migrations.user_version(conn) < migrations.SCHEMA_VERSION:
            with foreign_keys_off(conn):  # the transaction below takes this idle connection
                self._tx(self._migrate)
        self.recovered = self._tx(self._recover_partials)

    def _damaged(self, exc: sqlite3.DatabaseError) -> None:
        """Move the file aside and start afresh, but only when SQLite confirms the damage."""
        if not damage_confirmed(self.path, exc):
            raise self._translate(exc) from None
        self.notice = move_aside(self.path, str(exc))
        create_private(self.path)
        try:
            self._prepare()
        except StoreError:
            self._close_all()
            raise
        except sqlite3.DatabaseError as exc2:
            self._close_all()
            raise self._translate(exc2) from None

    def _unwritable(self, exc: BaseException) -> None:
        """This user cannot write the file or its folder: refuse, or open it read-only when allowed."""
        if not self.path.is_file():
            raise UnwritableError(f"Cannot create the conversation database {self.path} ({exc}).",
                                  access_hint(self.path), cause=exc)
        if not self.read_only_ok:
            raise cannot_save(self.path, exc)
        self.read_only, self._why_read_only = True, exc
        try:
            conn = self._connect_read_only()
            version = migrations.user_version(conn)
        except sqlite3.DatabaseError as exc2:
            self._close_all()
            raise StoreError(f"Cannot read the conversation database {self.path} ({exc2}).",
                             access_hint(self.path)) from None
        self._check_version(version)
        if version < migrations.READABLE_SINCE:
            self._close_all()
            raise StoreError(f"{self.path} needs an upgrade to this glmchat's schema, which cannot be done while "
                             "it is read-only.", access_hint(self.path))
        self._idle.append(conn)
        self.notice = read_only_notice(self.path, exc)

    def _connect_read_only(self) -> sqlite3.Connection:
        """`mode=ro`; in a read-only folder without -wal/-shm files SQLite also needs `immutable=1`."""
        try:
            conn = self._connect()
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.DatabaseError as exc:
            self._close_all()
            wal = Path(str(self.path) + "-wal")
            if not is_unwritable(exc) or (wal.exists() and wal.stat().st_size > 0):
                raise
        self._immutable = True  # nothing waits in a -wal file: the main file holds every commit
        conn = self._connect()
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn

    def _check_version(self, version: int) -> None:
        if version > migrations.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was made by a newer glmchat (schema {version}; this version knows up to "
                f"{migrations.SCHEMA_VERSION}).",
                "Upgrade glmchat, or point GLMCHAT_DATA_DIR elsewhere to start a separate history.",
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        self._check_version(migrations.user_version(conn))  # another process may have migrated meanwhile
        for number, fn in migrations.pending(conn):
            migrations.apply(conn, number, fn)

    def _recover_partials(self, conn: sqlite3.Connection) -> list[int]:
        # A write that changes nothing: SQLITE_READONLY here, at open, rather than at the first save.
        conn.execute("UPDATE messages SET status = status WHERE 0")
        dead: list[int] = []
        for msg_id, meta_text in conn.execute("SELECT id, meta FROM messages WHERE status = 'partial'").fetchall():
            meta = loads(meta_text, {})
            if writer_alive(meta.get("writer")):
                continue
            meta.pop("writer", None)
            conn.execute("UPDATE messages SET status = 'interrupted', meta = ? WHERE id = ?", (dumps(meta), msg_id))
            dead.append(msg_id)
        return dead

    # ---- connections and transactions ---------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._pool_lock:
            if self._closed:
                raise StoreError("The conversation store is closed.", "Open a new Store.")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            with self._pool_lock:
                if self._closed or len(self._idle) >= 4:
                    self._all.remove(conn)
                    conn.close()
                else:
                    self._idle.append(conn)

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        if is_unwritable(exc):
            return cannot_save(self.path, exc)
        if is_busy(exc):
            return StoreError(f"The conversation database {self.path} stayed locked for {self.lock_timeout:.0f} s.",
                              "Another program holds it; close other glmchat windows and try again.")
        if is_corrupt(exc):
            return StoreError(f"The conversation database {self.path} is damaged ({exc}).",
                              "Quit glmchat and move the file aside; a fresh one is started on the next run.")
        if "full" in str(exc).lower():
            return StoreError(f"Cannot write {self.path}: the disk is full.", "Free some space and try again.")
        return StoreError(f"Conversation database error on {self.path}: {exc}.",
                          "Check the file's permissions and the disk.")

    def _tx(self, fn: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run `fn` in one transaction, retrying the whole transaction while the database is busy."""
        if write and self.read_only:
            raise cannot_save(self.path, self._why_read_only or OSError("opened read-only"))
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            try:
                with self._connection() as conn:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    result = fn(conn)
                    conn.execute("COMMIT")
                    return result
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise self._translate(exc) from None
            except sqlite3.DatabaseError as exc:
                raise self._translate(exc) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._tx(fn, write=False)

    def _close_all(self) -> None:
        with self._pool_lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        """Close every connection. Further calls raise StoreError."""
        with self._pool_lock:
            self._closed = True
        self._close_all()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lookups used inside transactions -----------------------------------------------------

    @staticmethod
    def _conv(conn: sqlite3.Connection, conv_id: int) -> Conversation:
        row = conn.execute(CONV_SELECT + " WHERE c.id = ?", (conv_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No conversation {conv_id}.", "`glmchat history list` shows the conversations.")
        return row_conversation(row)

    @staticmethod
    def _msg(conn: sqlite3.Connection, msg_id: int) -> Message:
        row = conn.execute(MSG_SELECT + " WHERE id = ?", (msg_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No message {msg_id}.", "It may have been deleted; reload the conversation.")
        return row_message(row)

    @staticmethod
    def _touch(conn: sqlite3.Connection, conv_id: int, now: float, activity: bool = True) -> None:
        if activity:
            conn.execute("UPDATE conversations SET updated_at = ?, last_activity = ? WHERE id = ?", (now, now, conv_id))
        else:
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))

    # ---- conversations --------------------------------------------------------------------------

    def create_conversation(self, title: str | None = None, model: str | None = None, quant: str | None = None,
                            profile: str | None = None, thinking_mode: str = "on", system_prompt: str | None = None,
                            settings: dict[str, Any] | None = None) -> Conversation:
        now = time.time()
        text = clean_fields({"title": (title or "").strip(), "model": model, "quant": quant, "profile": profile,
                             "thinking_mode": thinking_mode, "system_prompt": system_prompt})

        def run(conn: sqlite3.Connection) -> Conversation:
            cur = conn.execute(
                INSERT_CONVERSATION,
                (text["title"], now, now, now, text["model"], text["quant"], text["profile"], text["thinking_mode"],
                 text["system_prompt"], dumps(dict(settings or {}))),
            )
            return self._conv(conn, cur.lastrowid)

        return self._tx(run)

    def list_conversations(self, limit: int | None = None, query: str | None = None) -> list[Conversation]:
        """Most recent activity first; `query` keeps those whose title contains it (any case)."""
        sql = CONV_SELECT
        args: list[Any] = []
        if query:
            escaped = clean_text(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql += " WHERE c.title LIKE ? ESCAPE '\\'"
            args.append(f"%{escaped}%")
        sql += " ORDER BY c.last_activity DESC, c.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._read(lambda conn: [row_conversation(r) for r in conn.execute(sql, args).fetchall()])

    def get_conversation(self, conv_id: int) -> Conversation:
        return self._read(lambda conn: self._conv(conn, conv_id))

    def most_recent(self) -> Conversation | None:
        found = self.list_conversations(limit=1)
        return found[0] if found else None

    def update_conversation(self, conv_id: int, **fields: Any) -> Conversation:
        """Change any of: title, model, quant, profile, thinking_mode, system_prompt, settings."""
        unknown = set(fields) - set(CONVERSATION_COLUMNS)
        if unknown:
            raise TypeError(f"update_conversation() got unknown fields: {', '.join(sorted(unknown))}")
        if "settings" in fields:
            fields["settings"] = dumps(dict(fields["settings"] or {}))
        if "title" in fields:
            fields["title"] = (fields["title"] or "").strip()
        fields = clean_fields(fields)
        now = time.time()

        def run(conn: sqlite3.Connection) -> Conversation:
            self._conv(conn, conv_id)
            if fields:
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE conversations SET {sets} WHERE id = ?", [*fields.values(), conv_id])
            self._touch(conn, conv_id, now, activity=False)
            return self._conv(conn, conv_id)

        return self._tx(run)

    def rename(self, conv_id: int, title: str) -> Conversation:
        if not title or not title.strip():
            raise UsageError("A conversation title cannot be empty.", "Give a title with at least one character.")
        return self.update_conversation(conv_id, title=title)

    def delete(self, conv_id: int) -> None:
        """Delete a conversation and all its messages."""

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,)).rowcount == 0:
                raise NotFoundError(f"No conversation {conv_id}.", "`glmchat history list` shows the conversations.")

        self._tx(run)

    # ---- messages -------------------------------------------------------------------------------

    def messages(self, conv_id: int) -> list[Message]:
        def run(conn: sqlite3.Connection) -> list[Message]:
            self._conv(conn, conv_id)
            rows = conn.execute(MSG_SELECT + " WHERE conversation_id = ? ORDER BY seq", (conv_id,)).fetchall()
            return [row_message(r) for r in rows]

        return self._read(run)

    def get_message(self, msg_id: int) -> Message:
        return self._read(lambda conn: self._msg(conn, msg_id))

    def add_message(self, conv_id: int, role: str, content: str = "", *, reasoning: str | None = None,
                    tool_calls: list[dict[str, Any]] | None = None, tool_call_id: str | None = None,
                    name: str | None = None, status: str = "complete", usage: Any = None,
                    meta: dict[str, Any] | None = None, title_source: str | None = None) -> Message:
        """Append a message; the first user message titles an untitled conversation (from
        `title_source` when given, e.g. the typed text without the attached files, else `content`)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        calls = normalize_tool_calls(tool_calls)
        meta = dict(meta or {})
        if status == "partial":
            meta.setdefault("writer", writer_info())
        usage_d = usage_dict(usage)
        content = clean_text(content or "")
        title_source = content if title_source is None else clean_text(title_source)
        reasoning, tool_call_id, name = (clean_text(v) if isinstance(v, str) else v for v in (reasoning, tool_call_id, name))
        now = time.time()

        def run(conn: sqlite3.Connection) -> Message:
            conv = self._conv(conn, conv_id)
            seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
                               (conv_id,)).fetchone()[0]
            cur = conn.execute(
                INSERT_MESSAGE,
                (conv_id, seq, role, content, reasoning, dumps(calls), tool_call_id, name, status,
                 dumps(usage_d), now, dumps(meta)),
            )
            self._touch(conn, conv_id, now)
            if role == "user" and not conv.title and title_source.strip():
                conn.execute("UPDATE conversations SET title = ? WHERE id = ?", (auto_title(title_source), conv_id))
            return self._msg(conn, cur.lastrowid)

        return self._tx(run)

    def update_message(self, msg_id: int, **fields: Any) -> Message:
        """Change any of: content, reasoning, tool_calls, tool_call_id, name, status, usage, meta."""
        unknown = set(fields) - set(MESSAGE_COLUMNS)
        if unknown:
            raise TypeError(f"update_message() got unknown fields: {', '.join(sorted(unknown))}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {fields['status']!r}")
        values = dict(fields)
        if "tool_calls" in values:
            values["tool_calls"] = dumps(normalize_tool_calls(values["tool_calls"]))
        if "usage" in values:
            values["usage"] = dumps(usage_dict(values["usage"]))
        if "content" in values:
            values["content"] = values["content"] or ""
        values = clean_fields(values)
        now = time.time()

        def run(conn: sqlite3.Connection) -> Message:
            old = self._msg(conn, msg_id)
            row = dict(values)
            if "meta" in row or ("status" in row and row["status"] != "partial"):
                meta = dict(fields["meta"]) if "meta" in fields else dict(old.meta)
                if row.get("status", old.status) != "partial":
                    meta.pop("writer", None)
                row["meta"] = dumps(meta)
            if row:
                sets = ", ".join(f"{k} = ?" for k in row)
                conn.execute(f"UPDATE messages SET {sets} WHERE id = ?", [*row.values(), msg_id])
            self._touch(conn, old.conversation_id, now)
            return self._msg(conn, msg_id)

        return self._tx(run)

    def save_stream(self, msg_id: int, content: str, reasoning: str | None,
                     tool_calls: list[dict[str, Any]] | None) -> None:
        """The StreamWriter's periodic save: text and tool calls only, no read-back."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE messages SET content = ?, reasoning = ?, tool_calls = ? WHERE id = ?",
                         (clean_text(content), clean_text(reasoning) if reasoning else reasoning, dumps(tool_calls),
                          msg_id))

        self._tx(run)

    def stream_writer(self, conv_id: int, role: str = "assistant", min_interval: float = 1.0, *,
                      background: bool = True, meta: dict[str, Any] | None = None) -> StreamWriter:
        """Start a message that fills in while it streams (status 'partial' until finish(); `meta` kept)."""
        msg = self.add_message(conv_id, role, "", status="partial", meta=meta)
        return StreamWriter(self, msg, min_interval=min_interval, background=background)

    def truncate_after(self, conv_id: int, message_id: int) -> int:
        """Delete every message after `message_id` (for retry and edit); returns how many went."""
        now = time.time()

        def run(conn: sqlite3.Connection) -> int:
            self._conv(conn, conv_id)
            seq = self._seq_in(conn, conv_id, message_id)
            n = conn.execute("DELETE FROM messages WHERE conversation_id = ? AND seq > ?", (conv_id, seq)).rowcount
            self._touch(conn, conv_id, now)
            return n

        return self._tx(run)

    def _seq_in(self, conn: sqlite3.Connection, conv_id: int, message_id: int) -> int:
        row = conn.execute("SELECT seq FROM messages WHERE id = ? AND conversation_id = ?",
                           (message_id, conv_id)).fetchone()
        if row is None:
            raise NotFoundError(f"No message {message_id} in conversation {conv_id}.",
                                "`glmchat history show ID --json` lists the message ids.")
        return row[0]

    def fork(self, conv_id: int, at_message_id: int) -> Conversation:
        """A new conversation holding copies of the messages up to and including `at_message_id`."""
        now = time.time()

        def run(conn: sqlite3.Connection) -> Conversation:
            src = self._conv(conn, conv_id)
            seq = self._seq_in(conn, conv_id, at_message_id)
            title = f"{src.title} (fork)" if src.title else ""
            cur = conn.execute(
                INSERT_CONVERSATION,
                (title, now, now, now, src.model, src.quant, src.profile, src.thinking_mode, src.system_prompt,
                 dumps(src.settings)),
            )
            new_id = cur.lastrowid
            conn.execute(
                "INSERT INTO messages (conversation_id, seq, role, content, reasoning, tool_calls, tool_call_id,"
                " name, status, usage, created_at, meta)"
                " SELECT ?, seq, role, content, reasoning, tool_calls, tool_call_id, name,"
                " CASE status WHEN 'partial' THEN 'interrupted' ELSE status END, usage, created_at, meta"
                " FROM messages WHERE conversation_id = ? AND seq <= ? ORDER BY seq",
                (new_id, conv_id, seq),
            )
            return self._conv(conn, new_id)

        return self._tx(run)

    # ---- search ---------------------------------------------------------------------------------

    def search(self, text: str, limit: int = 50, *, conversation_id: int | None = None,
               markers: tuple[str, str] = ("«", "»")) -> list[SearchHit]:
        """Full-text search over message content and reasoning, best matches first.

        Every word must occur (the last may be the start of a word). The snippet wraps the matched
        words in `markers`.
        """
        query = search_query(clean_text(text), limit, conversation_id, markers)
        if query is None:
            return []
        return self._read(lambda conn: [SearchHit(*row) for row in conn.execute(*query).fetchall()])

    # ---- export / import ------------------------------------------------------------------------

    def _with_messages(self, conv_id: int) -> tuple[Conversation, list[Message]]:
        def run(conn: sqlite3.Connection) -> tuple[Conversation, list[Message]]:
            conv = self._conv(conn, conv_id)
            rows = conn.execute(MSG_SELECT + " WHERE conversation_id = ? ORDER BY seq", (conv_id,)).fetchall()
            return conv, [row_message(r) for r in rows]

        return self._read(run)

    def export_markdown(self, conv_id: int, thinking: bool = False) -> str:
        return _export.to_markdown(*self._with_messages(conv_id), thinking=thinking)

    def export_json(self, conv_id: int) -> dict[str, Any]:
        return _export.to_json(*self._with_messages(conv_id))

    def import_json(self, data: Any) -> Conversation:
        """Add a conversation from `export_json` data under a new id."""
        conv, msgs = _export.from_json(data)

        def run(conn: sqlite3.Connection) -> Conversation:
            cur = conn.execute(
                INSERT_CONVERSATION,
                (conv["title"], conv["created_at"], conv["updated_at"], conv["last_activity"], conv["model"],
                 conv["quant"], conv["profile"], conv["thinking_mode"], conv["system_prompt"],
                 dumps(conv["settings"])),
            )
            new_id = cur.lastrowid
            conn.executemany(
                INSERT_MESSAGE,
                [(new_id, m["seq"], m["role"], m["content"], m["reasoning"], dumps(m["tool_calls"]),
                  m["tool_call_id"], m["name"], m["status"], dumps(m["usage"]), m["created_at"], dumps(m["meta"]))
                 for m in msgs],
            )
            return self._conv(conn, new_id)

        return self._tx(run)
