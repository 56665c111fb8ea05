"""/context: what the next request holds and what each part of it costs in tokens.

Each part is counted as the growth of the rendered prompt when it is added (so the chat template's
markers are counted where they fall), with the engine's own `count_tokens`: exact for an engine
that is `Tokenizing` (the local one renders and tokenizes), an estimate otherwise (shown with ~).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from glmchat.engine.base import ChatRequest, Tokenizing
from glmchat.request_builder import PART_NAMES, system_message, system_text, workspace_root

if TYPE_CHECKING:
    from glmchat.session import ChatSession


@dataclass(frozen=True)
class ContextPart:
    name: str
    tokens: int
    detail: str = ""


@dataclass(frozen=True)
class ContextReport:
    parts: list[ContextPart]
    total: int
    n_ctx: int
    exact: bool  # counted with the engine's tokenizer (else an estimate)
    system_prompt: str  # the whole system prompt as sent
    instruction_files: list[str] = field(default_factory=list)

    def amount(self, n: int) -> str:
        return f"{'' if self.exact else '~'}{n:,}"


def _count(session: ChatSession, request: ChatRequest) -> int:
    try:
        return session.engine.count_tokens(request)
    except Exception:
        return 0  # a template that cannot render this piece alone: its cost shows up in the next part


def _attachments_text(session: ChatSession) -> str:
    return "\n\n".join(f"{label}\n```\n{body.rstrip(chr(10))}\n```" for label, body in session.pending_attachments)


def context_report(session: ChatSession) -> ContextReport:
    """The next request, part by part: template, system prompt parts, tool schemas, history, attachments."""
    full = session.build_request()
    exact = isinstance(session.engine, Tokenizing)
    parts_in = system_text(session)
    bare = replace(full, messages=[], tools=None)
    previous = _count(session, bare)
    parts = [ContextPart("chat template", previous)] if previous else []
    for i, part in enumerate(parts_in):
        now = _count(session, replace(bare, messages=system_message(parts_in[: i + 1])))
        parts.append(ContextPart(PART_NAMES.get(part.kind, part.kind), max(0, now - previous)))
        previous = max(previous, now)
    head = system_message(parts_in)
    if full.tools:
        now = _count(session, replace(bare, messages=head, tools=full.tools))
        parts.append(ContextPart("tool schemas", max(0, now - previous), f"{len(full.tools)} tools"))
        previous = max(previous, now)
    total = _count(session, full)
    history = len(full.messages) - len(head)
    left_out = f", {session.omitted_messages} older left out" if session.omitted_messages else ""
    parts.append(ContextPart("history", max(0, total - previous), f"{history} messages{left_out}"))
    attached = _attachments_text(session)
    if attached:
        if exact:
            cost = len(session.engine.tokenize(attached, add_special=False))  # type: ignore[attr-defined]
        else:
            cost = len(attached) // 4
        parts.append(ContextPart("attachments", cost, f"{len(session.pending_attachments)} waiting for the next message"))
        total += cost
    files = [str(f.path) for f in session.prompt_context.instructions(workspace_root(session)).files]
    system = head[0]["content"] if head else ""
    return ContextReport(parts, total, session.engine.info.n_ctx or 0, exact, system, files)


def report_text(report: ContextReport) -> str:
    """The report as the lines /context shows."""
    of = f" of {report.n_ctx:,} ({report.total / report.n_ctx:.0%})" if report.n_ctx else ""
    how = "counted with the model's tokenizer" if report.exact else "~ estimated at about 4 characters a token"
    lines = [f"Next request: {report.amount(report.total)} tokens{of} — {how}."]
    width = max(len(p.name) for p in report.parts)
    for p in report.parts:
        detail = f"  ({p.detail})" if p.detail else ""
        lines.append(f"  {p.name.ljust(width)}  {report.amount(p.tokens):>9}{detail}")
    if report.instruction_files:
        lines.append("Instructions from: " + ", ".join(report.instruction_files))
    lines.append("/context full shows the whole system prompt." if report.system_prompt else "No system prompt.")
    return "\n".join(lines)
