"""Conversations out of and into the store: Markdown transcripts and lossless JSON."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from glmchat.store.errors import ImportFormatError
from glmchat.store.models import ROLES, STATUSES, Conversation, Message, normalize_tool_calls

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


def _bad(problem: str) -> ImportFormatError:
    return ImportFormatError(f"Not a glmchat conversation export: {problem}.",
                             "Import a file written by `glmchat history export ID --format json`.")


def _opt_str(d: dict[str, Any], key: str, where: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise _bad(f"{where}.{key} must be a string")
    return v


def _num(d: dict[str, Any], key: str, where: str, default: float) -> float:
    v = d.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f"{where}.{key} must be a number")
    return float(v)


def _mapping(d: dict[str, Any], key: str, where: str, none_ok: bool) -> dict[str, Any] | None:
    v = d.get(key)
    if v is None:
        return None if none_ok else {}
    if not isinstance(v, dict):
        raise _bad(f"{where}.{key} must be an object")
    return v


def from_json(data: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check an export and return (conversation fields, message field dicts in order)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(f'"format" must be "{FORMAT}"')
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise _bad('"version" must be a positive whole number')
    if version > FORMAT_VERSION:
        raise ImportFormatError(f"This export is format version {version}; this glmchat reads up to {FORMAT_VERSION}.",
                                "Upgrade glmchat to import it.")
    c = data.get("conversation")
    if not isinstance(c, dict):
        raise _bad('"conversation" must be an object')
    now = time.time()
    conv = {
        "title": _opt_str(c, "title", "conversation") or "",
        "created_at": _num(c, "created_at", "conversation", now),
        "updated_at": _num(c, "updated_at", "conversation", now),
        "last_activity": _num(c, "last_activity", "conversation", now),
        "model": _opt_str(c, "model", "conversation"),
        "quant": _opt_str(c, "quant", "conversation"),
        "profile": _opt_str(c, "profile", "conversation"),
        "thinking_mode": _opt_str(c, "thinking_mode", "conversation") or "on",
        "system_prompt": _opt_str(c, "system_prompt", "conversation"),
        "settings": _mapping(c, "settings", "conversation", none_ok=False),
    }
    raw = data.get("messages")
    if not isinstance(raw, list):
        raise _bad('"messages" must be a list')
    out: list[dict[str, Any]] = []
    seqs: set[int] = set()
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(f"{where} must be an object")
        if m.get("role") not in ROLES:
            raise _bad(f"{where}.role must be one of {', '.join(ROLES)}")
        status = m.get("status", "complete")
        if status not in STATUSES:
            raise _bad(f"{where}.status must be one of {', '.join(STATUSES)}")
        seq = m.get("seq", i + 1)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq in seqs:
            raise _bad(f"{where}.seq must be a whole number, unique in the conversation")
        seqs.add(seq)
        content = m.get("content", "")
        if not isinstance(content, str):
            raise _bad(f"{where}.content must be a string")
        try:
            tool_calls = normalize_tool_calls(m.get("tool_calls"))
        except ValueError as exc:
            raise _bad(f"{where}.tool_calls: {exc}") from None
        out.append({
            "seq": seq,
            "role": m["role"],
            "content": content,
            "reasoning": _opt_str(m, "reasoning", where),
            "tool_calls": tool_calls,
            "tool_call_id": _opt_str(m, "tool_call_id", where),
            "name": _opt_str(m, "name", where),
            # nobody is streaming into an imported message any more
            "status": "interrupted" if status == "partial" else status,
            "usage": _mapping(m, "usage", where, none_ok=True),
            "created_at": _num(m, "created_at", where, now),
            "meta": {k: v for k, v in (_mapping(m, "meta", where, none_ok=False) or {}).items() if k != "writer"},
        })
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


def to_markdown(conv: Conversation, messages: list[Message], thinking: bool = False) -> str:
    """A readable transcript; with `thinking`, each reasoning block as a collapsible <details>."""
    lines = [f"# {conv.title or f'Conversation {conv.id}'}", ""]
    facts = [f"conversation {conv.id}", f"started {_when(conv.created_at)}"]
    if conv.model:
        facts.append(f"model {conv.model}" + (f" ({conv.quant})" if conv.quant else ""))
    if conv.profile:
        facts.append(f"profile {conv.profile}")
    facts.append(f"thinking {conv.thinking_mode}")
    lines += ["*" + " · ".join(facts) + "*", ""]
    if conv.system_prompt and not any(m.role == "system" for m in messages):
        lines += ["## System prompt", "", conv.system_prompt.strip(), ""]
    for m in messages:
        heading = _HEADINGS[m.role]
        if m.role == "tool" and m.name:
            heading += f" · {m.name}"
        lines += [f"## {heading}", ""]
        if m.status != "complete":
            lines += [f"*({m.status})*", ""]
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
