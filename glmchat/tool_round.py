"""One tool call of a turn: approved (tools/policy.py), run (tools/registry.py), its result stored.

`ChatSession._run` calls `execute_call` for each complete call the model made; the result goes back
into the conversation as a tool message, the next round's prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    msg = tool_message(session.messages, call, output)
    session.messages.append(msg)
    session.message_ids.append(session.store_message(msg, status="complete", meta={"decision": decision, "ok": ok}))
    return output, ok, decision, diff
