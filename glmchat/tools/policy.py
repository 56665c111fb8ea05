"""Approval: which calls need the user's yes, what the user decided, and what the approval block shows.

Policies (`[tools] approve`): "ask" — every call asks; "auto-read" (default) — read tools on paths
inside the workspace run without asking, write and execute tools ask; "auto" — nothing asks (in the
TUI only: headless, write and execute tools need --yes whatever the policy, see `headless_approval`).
"Allow for this session" adds the tool's name to `session_allowed`, after which it no longer asks.
Network tools (web_fetch, web_search) ask under "ask" and "auto-read", like write and execute tools.

Permission rules (`[tools.rules]`, glmchat.tools.rules) come first: a matching "deny" refuses the
call (the model is told which rule), "allow" runs it unasked (headless too, without --yes: the rules
are the user's own; a project's `.glmchat/config.toml` can only add ask and deny), "ask" asks
whatever the policy and whatever was allowed for the session. Without a matching rule the policy decides.

Agent modes (glmchat.tools.modes, `ApprovalPolicy.mode`) come before all that: plan mode refuses any
call but a read; accept-edits lets edits inside the workspace run unless a rule matched.

This module is the one home of that rule: `ChatSession` holds an `ApprovalPolicy` and calls
`ApprovalPolicy.decide()` for every tool call; the TUI's approver returns a `Decision`;
`glmchat ask` gets its approver and policy from `headless_approval()`. A denied call's tool message
is `Decision.denial_text()`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from glmchat.errors import GlmchatError, UsageError
from glmchat.tools.base import Tool
from glmchat.tools.modes import DEFAULT_MODE, auto_edit, check_mode, offered, plan_refusal_text
from glmchat.tools.registry import validate_arguments
from glmchat.tools.rules import ProjectRules, Rule, RuleSet, load_project_rules, subject_of
from glmchat.tools.workspace import Workspace

if TYPE_CHECKING:
    from glmchat.glm import ToolCall

POLICIES: tuple[str, ...] = ("ask", "auto-read", "auto")
DEFAULT_POLICY = "auto-read"
PATH_ARGUMENTS = ("path",)  # argument names holding a workspace path


class DecisionKind(str, Enum):
    ALLOW_ONCE = "allow_once"
    ALLOW_SESSION = "allow_session"
    DENY = "deny"


@dataclass(frozen=True)
class Decision:
    """The user's answer to an approval block; `message` (deny only) is passed on to the model.

    `kind` may be given as its value: `Decision("allow_once")`, `Decision("deny", "use git mv")`.
    """

    kind: DecisionKind
    message: str | None = None
    rule: str | None = None  # the permission rule that decided (deny by rule: the model is told which)
    reason: str | None = None  # refused by glmchat itself (plan mode): the model's whole tool message

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DecisionKind(self.kind))  # "deny" → DecisionKind.DENY; unknown: ValueError

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

    @property
    def decision(self) -> str:
        """The kind as a plain string ("allow_once" | "allow_session" | "deny"), as events and the store carry it."""
        return self.kind.value

    @classmethod
    def by_rule(cls, rule: Rule) -> "Decision":
        """A call refused by a "deny" rule."""
        return cls(DecisionKind.DENY, None, rule.describe())

    def denial_text(self, tool_name: str) -> str:
        """The tool message the model gets when the call was denied."""
        if self.reason:
            return self.reason
        if self.rule:
            return (f"This {tool_name} call was refused by the permission rule {self.rule}; it was not run. "
                    "Do not retry it; do without it or ask the user.")
        text = f"The user denied this {tool_name} call; it was not run."
        if self.message:
            text += f" The user says: {self.message}"
        return text


# approver(call, risk, preview) -> Decision; blocks until the user answered
Approver = Callable[["ToolCall", str, str], Decision]

# what a call that needs approval gets when nobody can be asked (no approver: `glmchat ask` without --yes)
NO_APPROVER = Decision(DecisionKind.DENY, "Denied: this tool needs approval and none can be given here (use --yes).")


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


@dataclass
class ApprovalPolicy:
    """One session's approval state: the policy, the workspace and the tools allowed for the session.

    `workspace` None means the current directory, fixed when a call first needs it (`ensure_workspace`).
    """

    policy: str = DEFAULT_POLICY
    workspace: Workspace | None = field(default_factory=Workspace)
    session_allowed: set[str] = field(default_factory=set)
    rules: RuleSet = field(default_factory=RuleSet)  # the user's [tools.rules]; the project's are added per workspace
    notices: list[str] = field(default_factory=list)  # for the user (a project allow rule ignored); see take_notices
    mode: str = DEFAULT_MODE  # glmchat.tools.modes: "default" | "accept-edits" | "plan"
    _project: tuple[object, ProjectRules] | None = field(default=None, repr=False, init=False)

    def __post_init__(self) -> None:
        check_policy(self.policy)
        check_mode(self.mode)

    def set_mode(self, mode: str) -> None:
        """Switch the agent mode (glmchat.tools.modes) from the next call on."""
        self.mode = check_mode(mode)

    def ensure_workspace(self) -> Workspace:
        if self.workspace is None:
            self.workspace = Workspace()
        return self.workspace

    def needs_approval(self, tool: Tool, arguments: Any) -> bool:
        return needs_approval(tool, arguments, self.policy, self.ensure_workspace(), self.session_allowed)

    def project_rules(self) -> ProjectRules:
        """The rules of the workspace's `.glmchat/config.toml`, read once per workspace (notices queued)."""
        workspace = self.ensure_workspace()
        if self._project is None or self._project[0] != workspace.root:
            loaded = load_project_rules(workspace)
            self._project = (workspace.root, loaded)
            self.notices.extend(loaded.notices)
        return self._project[1]

    def matching_rule(self, tool: Tool, arguments: Any) -> Rule | None:
        """The permission rule that decides this call, or None (the policy decides)."""
        try:
            args = validate_arguments(tool, arguments)
        except GlmchatError:
            return None  # the call fails on its arguments anyway
        rules = RuleSet(self.rules.user, self.project_rules().rules)
        return rules.match(tool.name, subject_of(tool.name, args, self.ensure_workspace()))

    def take_notices(self) -> list[str]:
        """Notices queued since the last call (the session shows them as Notice events)."""
        out, self.notices[:] = list(self.notices), []
        return out

    def record(self, tool: Tool, decision: Decision) -> None:
        """Remember an "allow for this session" answer."""
        if decision.kind is DecisionKind.ALLOW_SESSION:
            self.session_allowed.add(tool.name)

    def preview(self, tool: Tool, arguments: Any) -> str:
        return preview(tool, arguments, self.ensure_workspace())

    def decide(self, tool: Tool, call: "ToolCall", approver: Approver | None) -> Decision | None:
        """May this call run? None: it needs no approval (decision "auto"); else the decision, remembered.

        The approver sees (call, risk, preview) and blocks until answered; without one (nobody can be
        asked) a call that needs approval gets `NO_APPROVER`. Plan mode refuses any call but a read
        first; then a matching permission rule; then accept-edits lets edits inside the workspace run.
        """
        if not offered(tool.risk, self.mode):
            return Decision(DecisionKind.DENY, reason=plan_refusal_text(tool.name))
        rule = self.matching_rule(tool, call.arguments)
        if rule is not None and rule.action == "deny":
            return Decision.by_rule(rule)
        if rule is not None and rule.action == "allow":
            return None
        if rule is None and not self.needs_approval(tool, call.arguments):
            return None
        if rule is None and auto_edit(self.mode, tool.risk, _paths_inside(tool, call.arguments, self.ensure_workspace())):
            return None
        shown = self.preview(tool, call.arguments)
        if rule is not None:
            shown += f"\n(asks by the rule {rule.describe()})"
        decision = NO_APPROVER if approver is None else approver(call, tool.risk, shown)
        self.record(tool, decision)
        return decision


@dataclass(frozen=True)
class HeadlessApproval:
    """What a run with nobody to ask passes to `ChatSession(approver=..., approve_policy=...)`."""

    approver: Approver | None
    policy: str  # never "auto" without --yes


def headless_approval(yes: bool, configured: str = DEFAULT_POLICY) -> HeadlessApproval:
    """How `glmchat ask --tools` approves calls, given the `[tools] approve` setting (`configured`);
    use as `ChatSession(..., approver=a.approver, approve_policy=a.policy)`. Permission rules apply
    before this (`ApprovalPolicy.decide`): a deny rule refuses even with --yes, a user's allow rule
    runs its calls without --yes.

    --yes: policy "auto", every call runs unasked (events say decision "auto").
    Without --yes: write and execute tools never run, whatever the setting says — `approve = "auto"`
    is for the TUI, where the user watches; here it counts as "auto-read". `needs_approval` then
    decides as everywhere, and what needs approval is denied (`NO_APPROVER`, which tells the model
    to ask for --yes), since nobody can be asked: reads inside the workspace run ("auto-read"), or
    nothing runs ("ask").
    """
    if yes:
        return HeadlessApproval(lambda call, risk, preview: Decision.allow_once(), "auto")
    policy = check_policy(configured)
    return HeadlessApproval(None, "auto-read" if policy == "auto" else policy)


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
