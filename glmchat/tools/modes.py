"""Agent modes: what the model is offered and what runs without asking, one setting per session.

- "default": every tool is offered; permission rules, then the approval policy, decide (policy.py).
- "plan": only read tools are offered (the request's tool schemas are filtered by risk class), the
  system prompt asks for a plan instead of changes, and a write, execute or network call the model
  makes anyway is refused with a message saying plan mode is on (before any rule or --yes).
- "accept-edits": file edits (write-risk tools whose paths are inside the workspace) run without
  asking; a "deny" or "ask" rule still counts, and commands follow the rules and the policy as usual.

The mode lives on the session's `ApprovalPolicy` (`policy.mode`); Shift+Tab cycles it in the TUI
(`next_mode`), `glmchat ask --mode` sets it for one run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glmchat.errors import UsageError

MODES: tuple[str, ...] = ("default", "accept-edits", "plan")  # the order Shift+Tab cycles them in
DEFAULT_MODE = "default"
OFFERED_IN_PLAN: tuple[str, ...] = ("read",)  # risk classes plan mode offers

PLAN_PROMPT = (
    "Plan mode is on: you may read and search the workspace, but do not change anything. "
    "Do not write or edit files or run commands. Study what is needed, then answer with a step-by-step "
    "plan of the changes you would make (files, what changes, how to check it); the user will switch "
    "modes to let you carry it out."
)

LABELS = {"default": "", "accept-edits": "accept edits", "plan": "plan mode"}  # the status bar ("" shows nothing)


def check_mode(mode: str) -> str:
    """`mode` when it is a known mode; UsageError (exit 2) naming the choices otherwise."""
    if mode not in MODES:
        raise UsageError(f"Unknown mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
    return mode


def next_mode(mode: str) -> str:
    """The mode after `mode` in Shift+Tab's cycle (default → accept-edits → plan → default)."""
    return MODES[(MODES.index(mode) + 1) % len(MODES)] if mode in MODES else DEFAULT_MODE


def offered(risk: str, mode: str) -> bool:
    """True when a tool of this risk class is offered to the model in `mode`."""
    return mode != "plan" or risk in OFFERED_IN_PLAN


def offered_schemas(tools: Iterable[Any], mode: str) -> list[dict[str, Any]]:
    """The schemas of the tools (each with `.risk` and `.schema()`) the model may call in `mode`."""
    return [t.schema() for t in tools if offered(t.risk, mode)]


def plan_refusal_text(tool_name: str) -> str:
    """The tool message the model gets for a write/execute/network call made in plan mode."""
    return (f"Plan mode is on: this {tool_name} call was refused and not run; in plan mode only reading "
            "tools run. Do not retry it: finish your plan and let the user switch modes to carry it out.")


def system_line(mode: str) -> str | None:
    """The line plan mode adds to the system prompt (None in the other modes)."""
    return PLAN_PROMPT if mode == "plan" else None


def auto_edit(mode: str, risk: str, paths_inside: bool) -> bool:
    """True when accept-edits lets this call run without asking: a write-risk tool on workspace paths."""
    return mode == "accept-edits" and risk == "write" and paths_inside
