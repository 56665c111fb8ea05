"""One tool call of a turn: approved (tools/policy.py), run (tools/registry.py), its result stored.

`ChatSession._run` calls `execute_call` for each complete call the model made; the result goes back
into the conversation as a tool message, the next round's prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glmchat import rewind
from glmchat.reply import tool_message
from glmchat.tools.base import ToolContext

if TYPE_CHECKING:
    from glmchat.engine.base import CancelToken
    from glmchat.glm import ToolCall
    from glmchat.session import ChatSession


def execute_call(session: ChatSession, call: ToolCall, cancel: CancelToken) -> tuple[str, bool, str, str | None]:
    """Approve and run one call; store and remember the result. → (output, ok, decision, diff)."""
    workspace = session.approval.ensure_workspace()
    undo = session.ensure_undo_log()
    rewind.track(session, undo)  # the file changes of this call tagged with its turn, for /rewind
    tools = session.tools
    tool = tools.get(call.name)
    decision = "auto"
    ok = False
    diff = None
    if tool is None:
        output = f"Error: there is no tool named {call.name!r}. Available tools: {', '.join(tools.names())}."
    else:
        approval = session.approval.decide(tool, call, session.approver)
        if approval is not None:
            decision = approval.decision
        if approval is not None and not approval.allowed:
            output = approval.denial_text(call.name)
        else:
            ctx = ToolContext(workspace=workspace, cancel=cancel, undo=undo, timeout=session.settings.tools.timeout)
            result = tools.execute(call.name, call.arguments, ctx)
            ok, diff = result.ok, result.diff
            output = result.for_model()
    _record(session, call, output, {"decision": decision, "ok": ok})
    return output, ok, decision, diff


def refuse_call(session: ChatSession, call: ToolCall, output: str, stops_turn: bool) -> tuple[str, bool, str, str | None]:
    """A call the loop guard did not run (glmchat.loop_guard): `output` says why, as its result."""
    meta: dict[str, object] = {"decision": "repeated", "ok": False}
    if stops_turn:
        meta["stop_reason"] = "repeated tool call"
    _record(session, call, output, meta)
    return output, False, "repeated", None


def _record(session: ChatSession, call: ToolCall, output: str, meta: dict[str, object]) -> None:
    msg = tool_message(session.messages, call, output)
    session.messages.append(msg)
    session.message_ids.append(session.store_message(msg, status="complete", meta=meta))
