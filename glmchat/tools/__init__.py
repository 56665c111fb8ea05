"""Tools the model (and the user, through slash commands) can run inside the workspace.

Public API: `Tool`, `ToolResult`, `ToolContext`, `ToolRegistry` (registry.py); `Workspace`,
`ToolError` (workspace.py); `UndoLog` (undo.py); `ApprovalPolicy`, `Decision`, `needs_approval`,
`preview` (policy.py); slash-command helpers in `glmchat.tools.direct`.
"""

from glmchat.tools.policy import ApprovalPolicy, Decision, DecisionKind, headless_decision, needs_approval, preview
from glmchat.tools.registry import Tool, ToolContext, ToolRegistry, ToolResult
from glmchat.tools.undo import UndoLog
from glmchat.tools.workspace import OutsideWorkspaceError, ToolError, Workspace

__all__ = [
    "ApprovalPolicy",
    "Decision",
    "DecisionKind",
    "OutsideWorkspaceError",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "UndoLog",
    "Workspace",
    "headless_decision",
    "needs_approval",
    "preview",
]
