"""`@` mentions in the chat: the files a typed message mentions attached before it is sent
(glmchat.mentions, read off the event loop), and the file picker's list of the workspace's files
(glmchat.workspace_files, built on a worker thread, cached by the picker)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from glmchat.errors import GlmchatError
from glmchat.mentions import MENTION, read_mentions
from glmchat.tui.widgets.file_picker import FilePicker
from glmchat.workspace_files import list_files

if TYPE_CHECKING:
    from glmchat.tui.screens.chat import ChatScreen


async def attach_mentions(screen: ChatScreen, text: str) -> bool:
    """Attach the files `text` mentions; False (the message back in the input, the error shown) when one fails."""
    if screen.generating or MENTION.search(text) is None:
        return True  # while generating, send() hands the text back; it is attached when sent
    try:
        found = await asyncio.to_thread(read_mentions, text, screen.direct.workspace())
    except GlmchatError as exc:
        if not screen.prompt.text.strip():
            screen.prompt.load_text(text)
        await screen.show_error(exc.message, f"{exc.hint} Your message is back in the input.")
        return False
    for label, body in found:  # the message shows them as it is sent (no chip bar: it would outlive the send)
        screen.attachments.add(label, body)
    return True


def list_for_picker(screen: ChatScreen, picker: FilePicker) -> None:
    """List the workspace's files on a worker thread and hand them to the picker."""
    root = screen.direct.workspace().root

    def walk() -> None:
        try:
            files = list_files(root)
        except OSError:
            files = []
        try:
            screen.app.call_from_thread(picker.set_files, files)
        except RuntimeError:  # the app has gone
            pass

    screen.run_worker(walk, thread=True, group="file-picker", exclusive=True)
