"""Tools the model (and the user, through slash commands) can run inside the workspace.

Public API: `Tool`, `ToolResult`, `ToolContext` (base.py); `ToolRegistry` (registry.py); `Workspace`,
`ToolError` (workspace.py); `UndoLog` (undo.py); `ApprovalPolicy`, `Decision`, `Approver`,
`headless_approval`, `needs_approval`, `preview` (policy.py); slash-command helpers in
`glmchat.tools.direct`. Modules inside this package import from the defining module, never from here.
"""

from glmchat.tools.base import Tool, ToolContext, ToolResult
from glmchat.tools.policy import (
    ApprovalPolicy,
    Approver,
    Decision,
    DecisionKind,
    HeadlessApproval,
    headless_approval,
    needs_approval,
    preview,
)
from glmchat.tools.registry import ToolRegistry
from glmchat.tools.undo import UndoLog
from glmchat.tools.workspace import OutsideWorkspaceError, ToolError, Workspace

__all__ = [
    "ApprovalPolicy",
    "Approver",
    "Decision",
    "DecisionKind",
    "HeadlessApproval",
    "OutsideWorkspaceError",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "UndoLog",
    "Workspace",
    "headless_approval",
    "needs_approval",
    "preview",
]
