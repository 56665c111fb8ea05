"""Approval: which calls need the user's yes, what the user decided, and what the approval block shows.

Policies (`[tools] approve`): "ask" — every call asks; "auto-read" (default) — read tools on paths
inside the workspace run without asking, write and execute tools ask; "auto" — nothing asks.
"Allow for this session" adds the tool's name to `session_allowed`, after which it no longer asks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from glmchat.errors import GlmchatError, UsageError
from glmchat.tools.registry import Tool, validate_arguments
from glmchat.tools.workspace import Workspace

POLICIES: tuple[str, ...] = ("ask", "auto-read", "auto")
DEFAULT_POLICY = "auto-read"
PATH_ARGUMENTS = ("path",)  # argument names holding a workspace path


class DecisionKind(str, Enum):
    ALLOW_ONCE = "allow_once"
    ALLOW_SESSION = "allow_session"
    DENY = "deny"


@dataclass(frozen=True)
class Decision:
    """The user's answer to an approval block; `message` (deny only) is passed on to the model."""

    kind: DecisionKind
    message: str | None = None

    @classmethod
    def allow_once(cls) -> "Decision":
        return cls(DecisionKind.ALLOW_ONCE)

    @classmethod
    def allow_session(cls) -> "Decision":
        return cls(DecisionKind.ALLOW_SESSION)

    @classmethod
    def deny(cls, message: str | None = None) -> "Decision":
        return cls(DecisionKind.DENY, (message or "").strip() or None)

    @property
    def allowed(self) -> bool:
        return self.kind is not DecisionKind.DENY

    def denial_text(self, tool_name: str) -> str:
        """The tool message the model gets when the call was denied."""
        text = f"The user denied this {tool_name} call; it was not run."
        if self.message:
            text += f" The user says: {self.message}"
        return text


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise UsageError(f"Unknown approval policy {policy!r}.", f"Use one of: {', '.join(POLICIES)}.")
    return policy


def _paths_inside(tool: Tool, arguments: Any, workspace: Workspace) -> bool:
    args = arguments if isinstance(arguments, dict) else {}
    for key in PATH_ARGUMENTS:
        if key in tool.parameters.get("properties", {}):
            value = args.get(key, ".")
            if not isinstance(value, str) or not workspace.contains(value):
                return False
    return True


def needs_approval(tool: Tool, arguments: Any, policy: str, workspace: Workspace, session_allowed: set[str]) -> bool:
    """True when this call must be shown to the user for approval before it runs."""
    check_policy(policy)
    if policy == "auto" or tool.name in session_allowed:
        return False
    if policy == "ask":
        return True
    return not (tool.risk == "read" and _paths_inside(tool, arguments, workspace))


def headless_decision(tool: Tool, yes: bool) -> Decision:
    """`glmchat ask --tools`: read tools run; write/execute tools run only with --yes."""
    if yes or tool.risk == "read":
        return Decision.allow_once()
    return Decision.deny(f"{tool.name} is not allowed in this non-interactive run (it needs --yes).")


@dataclass
class ApprovalPolicy:
    """One session's approval state: the policy, the workspace and the tools allowed for the session."""

    policy: str = DEFAULT_POLICY
    workspace: Workspace = field(default_factory=Workspace)
    session_allowed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        check_policy(self.policy)

    def needs_approval(self, tool: Tool, arguments: Any) -> bool:
        return needs_approval(tool, arguments, self.policy, self.workspace, self.session_allowed)

    def record(self, tool: Tool, decision: Decision) -> None:
        """Remember an "allow for this session" answer."""
        if decision.kind is DecisionKind.ALLOW_SESSION:
            self.session_allowed.add(tool.name)

    def preview(self, tool: Tool, arguments: Any) -> str:
        return preview(tool, arguments, self.workspace)


def preview(tool: Tool, arguments: Any, workspace: Workspace) -> str:
    """What the approval block shows: a diff for write_file/edit_file, the command, the code, or the arguments.

    Nothing is written. When the call would fail (bad path, no match), the preview says why.
    """
    from glmchat.tools.builtin import plan_edit, plan_write

    try:
        args = validate_arguments(tool, arguments)
    except GlmchatError as exc:
        return f"(invalid arguments: {exc})"
    try:
        if tool.name == "write_file":
            p, old, diff = plan_write(workspace, args["path"], args["content"])
            if old is not None and old == args["content"].encode("utf-8"):
                return f"(no change: {workspace.display(p)} already has this content)"
            return diff
        if tool.name == "edit_file":
            return plan_edit(workspace, args["path"], args["old_string"], args["new_string"])[3]
    except GlmchatError as exc:
        return f"({tool.name} would fail: {exc})"
    if tool.name == "run_shell":
        line = f"$ {args['command']}"
        return line + (f"\n(timeout {args['timeout']:g} s)" if "timeout" in args else "")
    if tool.name == "python":
        code = args["code"]
        return code + (f"\n(timeout {args['timeout']:g} s)" if "timeout" in args else "")
    return json.dumps(args, ensure_ascii=False, indent=2)
