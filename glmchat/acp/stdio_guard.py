"""The client's bytes, checked before the ACP SDK reads them: one JSON object per line, of bounded size.

The SDK's reader stops serving on a line that is valid JSON but not an object (`[1, 2]`), and keeps
an endless line in memory. `guarded_reader` sits between stdin and the SDK: a line that is not
JSON gets a JSON-RPC parse error, one that is not an object an invalid-request error, one over
`MAX_LINE` bytes is dropped with an error; only JSON objects reach the SDK.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

MAX_LINE = 16 * 1024 * 1024  # bytes in one message


def _reply_error(writer: asyncio.StreamWriter, code: int, message: str) -> None:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    writer.write(json.dumps(body).encode() + b"\n")


def _forward(line: bytes, out: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    line = line.strip()
    if not line:
        return
    try:
        message: Any = json.loads(line)
    except ValueError:
        _reply_error(writer, -32700, "Parse error: each line must be one JSON-RPC message.")
        return
    if not isinstance(message, dict):
        _reply_error(writer, -32600, "Invalid request: a message must be a JSON object (batches are not supported).")
        return
    out.feed_data(line + b"\n")


async def _pump(reader: asyncio.StreamReader, out: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    skipping = False  # inside a line over MAX_LINE: drop the rest of it
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial and not skipping:
                    _forward(exc.partial, out, writer)
                return
            except asyncio.LimitOverrunError as exc:
                await reader.readexactly(exc.consumed)
                if not skipping:
                    _reply_error(writer, -32600, f"Invalid request: a message over {MAX_LINE:,} bytes was dropped.")
                skipping = True
                continue
            if skipping:
                skipping = False
                continue
            _forward(line, out, writer)
    finally:
        out.feed_eof()


async def guarded_stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None]]:
    """(reader the SDK reads, writer to stdout, the pump task) over this process's stdin/stdout."""
    from acp import stdio_streams

    reader, writer = await stdio_streams(limit=MAX_LINE)
    out = asyncio.StreamReader(limit=MAX_LINE + 2)
    task = asyncio.create_task(_pump(reader, out, writer))
    return out, writer, task
