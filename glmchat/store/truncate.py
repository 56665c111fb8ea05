"""Cutting a conversation at one of its messages: that message and everything after it go (/rewind).

`Store.truncate_after` keeps the message it is given (for /retry and /edit); a rewind to the first
turn has no message before it to keep, so this deletes from the message on.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glmchat.store.db import Store


def delete_from(store: Store, conv_id: int, message_id: int, keep: Iterable[int] = ()) -> int:
    """Delete `message_id` and every later message of the conversation but those in `keep` (a /compact
    summary is stored after the turns it left in place); returns how many went."""
    now = time.time()
    kept = sorted(set(keep))

    def run(conn: sqlite3.Connection) -> int:
        store._conv(conn, conv_id)
        seq = store._seq_in(conn, conv_id, message_id)
        sql = "DELETE FROM messages WHERE conversation_id = ? AND seq >= ?"
        if kept:
            sql += f" AND id NOT IN ({', '.join('?' * len(kept))})"
        n = conn.execute(sql, (conv_id, seq, *kept)).rowcount
        store._touch(conn, conv_id, now)
        return n

    return store._tx(run)
