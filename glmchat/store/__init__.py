"""The conversation store (SQLite): conversations, messages, search, export and import.

    from glmchat.store import Store
    store = Store()                      # settings.db_path(); store.notice says if an old file was moved aside
    conv = store.create_conversation()
    store.add_message(conv.id, "user", "Hello")
    with store.stream_writer(conv.id) as w:
        w.append_answer("Hi")            # saved about once a second while streaming
"""

from glmchat.store.db import Store
from glmchat.store.errors import ImportFormatError, NotFoundError, StoreError, UnwritableError
from glmchat.store.models import ROLES, STATUSES, Conversation, Message, SearchHit
from glmchat.store.rows import clean_text
from glmchat.store.titles import auto_title
from glmchat.store.writer import StreamWriter

__all__ = [
    "Store", "StreamWriter", "Conversation", "Message", "SearchHit", "StoreError", "NotFoundError",
    "ImportFormatError", "UnwritableError", "ROLES", "STATUSES", "auto_title", "clean_text",
]
