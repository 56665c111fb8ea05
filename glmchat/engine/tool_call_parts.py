"""Tool calls of an OpenAI-style chat stream, put together from their `delta.tool_calls` fragments.

A call's id and name come in its first fragment, its arguments as string pieces in later ones (or,
from some servers, as one mapping); fragments name their call by `index`. `take()` hands the
finished calls over as `ToolCallDelta`s when the stream's `finish_reason` arrives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from glmchat.engine.base import ToolCallDelta


@dataclass
class _Parts:
    id: str | None = None
    name: str = ""
    arguments: str = ""


class ToolCallParts:
    """The calls of one stream so far, by index."""

    def __init__(self) -> None:
        self._calls: dict[int, _Parts] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, frag: dict[str, Any]) -> bool:
        """Add one fragment; True when it carried argument text (a generated token)."""
        index = frag.get("index")
        if not isinstance(index, int):
            index = max(self._calls) if self._calls else 0
        parts = self._calls.setdefault(index, _Parts())
        if frag.get("id"):
            parts.id = frag["id"]
        fn = frag.get("function") or {}
        if isinstance(fn.get("name"), str) and fn["name"] and not parts.name:
            parts.name = fn["name"]  # sent once, in the first fragment
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            parts.arguments += args
            return True
        if isinstance(args, dict):  # a server that sends the whole mapping at once
            parts.arguments = json.dumps(args, ensure_ascii=False)
            return True
        return False

    def take(self) -> list[ToolCallDelta]:
        """The calls so far, in index order (arguments that are not a JSON object kept as `_raw`); then empty."""
        out = []
        for index in sorted(self._calls):
            p = self._calls[index]
            raw = p.arguments.strip()
            try:
                args = json.loads(raw) if raw else {}
            except ValueError:
                args = {"_raw": p.arguments}
            if not isinstance(args, dict):
                args = {"_raw": p.arguments}
            out.append(ToolCallDelta(name=p.name, arguments=args, id=p.id))
        self._calls.clear()
        return out
