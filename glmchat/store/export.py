"""Conversations out of and into the store: Markdown transcripts and lossless JSON."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from glmchat.store.errors import ImportFormatError
from glmchat.store.models import ROLES, STATUSES, Conversation, Message, normalize_tool_calls
from glmchat.store.rows import MAX_TIME, clean_text

FORMAT = "glmchat.conversation"
FORMAT_VERSION = 1

CONVERSATION_FIELDS = ("title", "created_at", "updated_at", "last_activity", "model", "quant", "profile",
                       "thinking_mode", "system_prompt", "settings")
MESSAGE_FIELDS = ("seq", "role", "content", "reasoning", "tool_calls", "tool_call_id", "name", "status",
                  "usage", "created_at", "meta")


# ---- JSON ----------------------------------------------------------------------------------------


def to_json(conv: Conversation, messages: list[Message]) -> dict[str, Any]:
    """Everything about one conversation, in order, as plain JSON-able data."""
    c = {"id": conv.id, **{k: getattr(conv, k) for k in CONVERSATION_FIELDS}}
    ms = [{"id": m.id, **{k: getattr(m, k) for k in MESSAGE_FIELDS}} for m in messages]
    return {"format": FORMAT, "version": FORMAT_VERSION, "exported_at": time.time(), "conversation": c, "messages": ms}


# Bounds on what an import may hold: a hostile or damaged file is refused naming the field, before
# anything is written, so every later `history list`/`show` can still read every row.
MAX_DEPTH = 32  # nesting of settings, usage, meta and tool-call arguments
MAX_SHORT = 4096  # characters in a title, model, quant, profile, name or tool-call id
INT_RANGE = (-(2**63), 2**63 - 1)  # SQLite's integers


def _bad(problem: str) -> ImportFormatError:
    return ImportFormatError(f"Not a glmchat conversation export: {problem}.",
                             "Import a file written by `glmchat history export ID --format json`.")


def _opt_str(d: dict[str, Any], key: str, where: str, limit: int | None = MAX_SHORT) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _bad(f"{where}.{key} must be a string")
    if limit is not None and len(v) > limit:
        raise _bad(f"{where}.{key} is longer than {limit} characters")
    return clean_text(v)


def _time(d: dict[str, Any], key: str, where: str, default: float) -> float:
    v = d.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f"{where}.{key} must be a number")
    if not 0 <= v <= MAX_TIME:  # NaN fails this too
        raise _bad(f"{where}.{key} must be a time between 1970 and 3000 in Unix seconds, not {str(v)[:24]}")
    return float(v)


def _tree(value: Any, where: str) -> Any:
    """A copy of JSON data with its text made storable; refuses deep nesting, huge or non-finite numbers.

    Walks with a stack, never recursion, so no nesting (or cycle) raises RecursionError.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        v, parent, slot, depth = stack.pop()
        if isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int):
            if not INT_RANGE[0] <= v <= INT_RANGE[1]:
                raise _bad(f"{where} holds a whole number beyond 64 bits")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise _bad(f"{where} holds a number that is not finite")
        elif isinstance(v, str):
            v = clean_text(v)
        elif isinstance(v, (dict, list)):
            if depth >= MAX_DEPTH:
                raise _bad(f"{where} nests deeper than {MAX_DEPTH} levels")
            if isinstance(v, dict):
                if not all(isinstance(k, str) for k in v):
                    raise _bad(f"{where} has a key that is not a string")
                copy: Any = {clean_text(k): None for k in v}
                stack.extend((item, copy, clean_text(k), depth + 1) for k, item in v.items())
            else:
                copy = [None] * len(v)
                stack.extend((item, copy, i, depth + 1) for i, item in enumerate(v))
            v = copy
        else:
            raise _bad(f"{where} holds a {type(v).__name__}, which JSON cannot")
        parent[slot] = v
    return root[0]


def _mapping(d: dict[str, Any], key: str, where: str, none_ok: bool) -> dict[str, Any] | None:
    v = d.get(key)
    if v is None:
        return None if none_ok else {}
    if not isinstance(v, dict):
        raise _bad(f"{where}.{key} must be an object")
    return _tree(v, f"{where}.{key}")


def _header(data: Any) -> dict[str, Any]:
    """The format and version checks; returns the "conversation" object."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(f'"format" must be "{FORMAT}"')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad('"version" must be a positive whole number')
    if version > FORMAT_VERSION:
        raise ImportFormatError(f"This export is format version {str(version)[:24]}; this glmchat reads up to "
                                f"{FORMAT_VERSION}.", "Upgrade glmchat to import it.")
    c = data.get("conversation")
    if not isinstance(c, dict):
        raise _bad('"conversation" must be an object')
    return c


def _conversation(c: dict[str, Any], now: float) -> dict[str, Any]:
    from glmchat.settings import THINKING_MODES

    thinking = _opt_str(c, "thinking_mode", "conversation") or "on"
    if thinking not in THINKING_MODES:
        raise _bad(f"conversation.thinking_mode must be one of {', '.join(THINKING_MODES)}")
    return {
        "title": _opt_str(c, "title", "conversation") or "",
        "created_at": _time(c, "created_at", "conversation", now),
        "updated_at": _time(c, "updated_at", "conversation", now),
        "last_activity": _time(c, "last_activity", "conversation", now),
        "model": _opt_str(c, "model", "conversation"),
        "quant": _opt_str(c, "quant", "conversation"),
        "profile": _opt_str(c, "profile", "conversation"),
        "thinking_mode": thinking,
        "system_prompt": _opt_str(c, "system_prompt", "conversation", limit=None),
        "settings": _mapping(c, "settings", "conversation", none_ok=False),
    }


def _message(m: Any, i: int, seqs: set[int], now: float) -> dict[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise _bad(f"{where} must be an object")
    if not isinstance(m.get("role"), str) or m["role"] not in ROLES:
        raise _bad(f"{where}.role must be one of {', '.join(ROLES)}")
    status = m.get("status", "complete")
    if not isinstance(status, str) or status not in STATUSES:
        raise _bad(f"{where}.status must be one of {', '.join(STATUSES)}")
    seq = m.get("seq", i + 1)
    if isinstance(seq, bool) or not isinstance(seq, int) or not INT_RANGE[0] <= seq <= INT_RANGE[1] or seq in seqs:
        raise _bad(f"{where}.seq must be a whole number within 64 bits, unique in the conversation")
    seqs.add(seq)
    content = m.get("content", "")
    if not isinstance(content, str):
        raise _bad(f"{where}.content must be a string")
    calls = m.get("tool_calls")
    if calls is not None:
        calls = _tree(calls, f"{where}.tool_calls")
        if isinstance(calls, list) and any(isinstance(c, dict) and isinstance(c.get("id"), (dict, list, float))
                                           for c in calls):
            raise _bad(f"{where}.tool_calls: a call id must be a string")
    try:
        tool_calls = normalize_tool_calls(calls)
    except ValueError as exc:
        raise _bad(f"{where}.tool_calls: {exc}") from None
    return {
        "seq": seq,
        "role": m["role"],
        "content": clean_text(content),
        "reasoning": _opt_str(m, "reasoning", where, limit=None),
        "tool_calls": tool_calls,
        "tool_call_id": _opt_str(m, "tool_call_id", where),
        "name": _opt_str(m, "name", where),
        # nobody is streaming into an imported message any more
        "status": "interrupted" if status == "partial" else status,
        "usage": _mapping(m, "usage", where, none_ok=True),
        "created_at": _time(m, "created_at", where, now),
        "meta": {k: v for k, v in (_mapping(m, "meta", where, none_ok=False) or {}).items() if k != "writer"},
    }


def from_json(data: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check an export and return (conversation fields, message field dicts in order).

    Raises ImportFormatError, one line naming the first field that is wrong: a type, a time outside
    1970–3000, a number beyond SQLite's 64 bits or not finite, nesting deeper than MAX_DEPTH, a short
    field longer than MAX_SHORT. Text that is not valid Unicode (lone surrogates) is kept with U+FFFD.
    """
    c = _header(data)
    now = time.time()
    conv = _conversation(c, now)
    raw = data.get("messages")
    if not isinstance(raw, list):
        raise _bad('"messages" must be a list')
    seqs: set[int] = set()
    out = [_message(m, i, seqs, now) for i, m in enumerate(raw)]
    out.sort(key=lambda d: d["seq"])
    return conv, out


# ---- Markdown ------------------------------------------------------------------------------------


def _fence(text: str, lang: str = "") -> str:
    """`text` in a code fence longer than any backtick run inside it."""
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


_HEADINGS = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool result"}


def _per_turn(label: str, messages: list[Message], key: str, current: str | None) -> str:
    """e.g. "profile general (turns 1–3), tool (turns 4–5)" from what each answer was written with
    (its meta[key]); "profile general" when it never changed; `current` when no answer recorded it."""
    spans: list[list[Any]] = []  # [value, first turn, last turn]
    turn = 0
    for m in messages:
        turn += m.role == "user"
        value = m.meta.get(key) if m.role == "assistant" else None
        if not isinstance(value, str) or not value:
            continue
        if spans and spans[-1][0] == value:
            spans[-1][2] = max(turn, 1)
        else:
            spans.append([value, max(turn, 1), max(turn, 1)])
    if len(spans) <= 1:
        value = spans[0][0] if spans else current
        return f"{label} {value}" if value else ""
    parts = [f"{v} (turn {a})" if a == b else f"{v} (turns {a}–{b})" for v, a, b in spans]
    return f"{label} " + ", ".join(parts)


def to_markdown(conv: Conversation, messages: list[Message], thinking: bool = False) -> str:
    """A readable transcript; with `thinking`, each reasoning block as a collapsible <details>."""
    lines = [f"# {conv.title or f'Conversation {conv.id}'}", ""]
    facts = [f"conversation {conv.id}", f"started {_when(conv.created_at)}"]
    if conv.model:
        facts.append(f"model {conv.model}" + (f" ({conv.quant})" if conv.quant else ""))
    facts.append(_per_turn("profile", messages, "profile", conv.profile))
    facts.append(_per_turn("thinking", messages, "thinking", conv.thinking_mode))
    lines += ["*" + " · ".join(f for f in facts if f) + "*", ""]
    if conv.system_prompt and not any(m.role == "system" for m in messages):
        lines += ["## System prompt", "", conv.system_prompt.strip(), ""]
    for m in messages:
        heading = _HEADINGS[m.role]
        if m.role == "tool" and m.name:
            heading += f" · {m.name}"
        lines += [f"## {heading}", ""]
        if m.status != "complete":
            lines += [f"*({m.shown_status})*", ""]
        if thinking and m.reasoning and m.reasoning.strip():
            lines += ["<details>", "<summary>Thinking</summary>", "", m.reasoning.strip(), "", "</details>", ""]
        if m.role == "tool":
            lines += [_fence(m.content), ""]
        elif m.content.strip():
            lines += [m.content.strip(), ""]
        for tc in m.tool_calls or []:
            label = f"**Tool call** `{tc['name']}`" + (f" (id `{tc['id']}`)" if tc.get("id") else "")
            args = json.dumps(tc.get("arguments") or {}, ensure_ascii=False, indent=2)
            lines += [label, "", _fence(args, "json"), ""]
        if m.meta.get("error"):
            lines += [f"> Error: {m.meta['error']}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
