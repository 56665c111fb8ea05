"""Approval policy matrix, decisions, previews, and the tool schemas going through GLM-4.7's template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glmchat.errors import UsageError
from glmchat.glm import ToolCall
from glmchat.tools import (
    ApprovalPolicy,
    Decision,
    DecisionKind,
    ToolContext,
    ToolRegistry,
    UndoLog,
    Workspace,
    headless_approval,
    needs_approval,
    preview,
)
from glmchat.tools.policy import NO_APPROVER
from tests.fixtures import GLM47_TEMPLATE_PATH as TEMPLATE


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text("x = 1\ny = 2\ny = 2\n")
    return Workspace(root)


@pytest.fixture
def reg() -> ToolRegistry:
    return ToolRegistry.builtin()


SAMPLE_ARGS = {
    "read_file": {"path": "a.py"},
    "list_dir": {"path": "."},
    "glob": {"pattern": "**/*.py"},
    "grep": {"pattern": "x", "path": "."},
    "write_file": {"path": "b.py", "content": "z = 3\n"},
    "edit_file": {"path": "a.py", "old_string": "x = 1", "new_string": "x = 10"},
    "run_shell": {"command": "ls"},
    "python": {"code": "print(1)"},
    "web_fetch": {"url": "https://example.com/"},
}


@pytest.mark.parametrize(
    "policy, asks",
    [
        ("ask", {"read_file", "list_dir", "glob", "grep", "write_file", "edit_file", "run_shell", "python", "web_fetch"}),
        ("auto-read", {"write_file", "edit_file", "run_shell", "python", "web_fetch"}),
        ("auto", set()),
    ],
)
def test_policy_matrix(reg: ToolRegistry, ws: Workspace, policy: str, asks: set[str]) -> None:
    got = {t.name for t in reg if needs_approval(t, SAMPLE_ARGS[t.name], policy, ws, set())}
    assert got == asks


def test_auto_read_asks_for_reads_outside_the_workspace(reg: ToolRegistry, ws: Workspace) -> None:
    read = reg.get("read_file")
    assert needs_approval(read, {"path": "../elsewhere.txt"}, "auto-read", ws, set())
    assert needs_approval(read, {"path": "/etc/passwd"}, "auto-read", ws, set())
    assert needs_approval(reg.get("grep"), {"pattern": "x", "path": ".."}, "auto-read", ws, set())
    assert not needs_approval(reg.get("list_dir"), {}, "auto-read", ws, set())  # default path "."
    assert not needs_approval(read, {"path": str(ws.root / "a.py")}, "auto-read", ws, set())


def test_allow_for_session_stops_asking_for_that_tool_only(reg: ToolRegistry, ws: Workspace) -> None:
    policy = ApprovalPolicy("ask", ws)
    shell, py = reg.get("run_shell"), reg.get("python")
    assert policy.needs_approval(shell, SAMPLE_ARGS["run_shell"])
    policy.record(shell, Decision.allow_once())
    assert policy.needs_approval(shell, SAMPLE_ARGS["run_shell"])
    policy.record(shell, Decision.allow_session())
    assert not policy.needs_approval(shell, {"command": "rm -rf build"})
    assert policy.needs_approval(py, SAMPLE_ARGS["python"])
    assert policy.session_allowed == {"run_shell"}


def test_unknown_policy_is_a_usage_error(reg: ToolRegistry, ws: Workspace) -> None:
    with pytest.raises(UsageError, match="Unknown approval policy 'sometimes'"):
        needs_approval(reg.get("read_file"), {}, "sometimes", ws, set())
    with pytest.raises(UsageError):
        ApprovalPolicy("never", ws)


def test_decisions() -> None:
    assert Decision.allow_once().allowed and Decision.allow_session().allowed
    d = Decision.deny("  use git mv instead ")
    assert not d.allowed and d.kind is DecisionKind.DENY and d.message == "use git mv instead"
    assert d.denial_text("run_shell") == "The user denied this run_shell call; it was not run. The user says: use git mv instead"
    assert Decision.deny().denial_text("python") == "The user denied this python call; it was not run."
    assert Decision.deny("   ").message is None


@pytest.mark.parametrize("configured", ["auto", "auto-read", "ask"])
def test_headless_without_yes_never_writes_or_executes_whatever_the_policy(reg: ToolRegistry, ws: Workspace, configured: str) -> None:
    """One rule: headless, write and execute tools need --yes; `approve = "auto"` is for the TUI only."""
    a = headless_approval(False, configured)
    policy = ApprovalPolicy(a.policy, ws)
    for name in ("write_file", "edit_file", "run_shell", "python"):
        call = ToolCall(name, SAMPLE_ARGS[name], "")
        assert policy.decide(reg.get(name), call, a.approver) == NO_APPROVER
    read = policy.decide(reg.get("read_file"), ToolCall("read_file", {"path": "a.py"}, ""), a.approver)
    assert read is None if configured != "ask" else read == NO_APPROVER  # reads inside the workspace as before
    outside = policy.decide(reg.get("read_file"), ToolCall("read_file", {"path": "../x"}, ""), a.approver)
    assert outside == NO_APPROVER


def test_decision_kind_may_be_given_as_its_value() -> None:
    assert Decision("allow_session") == Decision.allow_session()
    d = Decision("deny", " kept as given ")
    assert d.kind is DecisionKind.DENY and d.decision == "deny" and d.message == " kept as given "
    assert Decision(DecisionKind.ALLOW_ONCE).decision == "allow_once"
    with pytest.raises(ValueError):
        Decision("maybe")


def test_decide_asks_only_when_needed_and_remembers_the_session_answer(reg: ToolRegistry, ws: Workspace) -> None:
    asked: list[tuple[str, str, str]] = []

    def approver(call, risk, shown):
        asked.append((call.name, risk, shown))
        return Decision("allow_session")

    policy = ApprovalPolicy("auto-read", ws)
    read, write = reg.get("read_file"), reg.get("write_file")
    assert policy.decide(read, ToolCall("read_file", {"path": "a.py"}, ""), approver) is None  # runs unasked
    call = ToolCall("write_file", SAMPLE_ARGS["write_file"], "")
    assert policy.decide(write, call, approver) == Decision.allow_session()
    assert asked == [("write_file", "write", preview(write, SAMPLE_ARGS["write_file"], ws))]
    assert policy.decide(write, call, approver) is None and len(asked) == 1  # allowed for the session now


def test_decide_without_an_approver_denies_what_needs_approval(reg: ToolRegistry, ws: Workspace) -> None:
    policy = ApprovalPolicy("auto-read", ws)
    denied = policy.decide(reg.get("run_shell"), ToolCall("run_shell", SAMPLE_ARGS["run_shell"], ""), None)
    assert denied == NO_APPROVER and not denied.allowed and "--yes" in denied.denial_text("run_shell")
    assert policy.session_allowed == set()


def test_workspace_none_means_the_current_directory_at_first_use(reg: ToolRegistry, ws: Workspace, monkeypatch) -> None:
    policy = ApprovalPolicy("auto-read", None)
    assert policy.workspace is None
    monkeypatch.chdir(ws.root)
    assert not policy.needs_approval(reg.get("read_file"), {"path": "a.py"})
    assert policy.workspace is not None and policy.workspace.root == ws.root


def test_headless_approval_for_ask(reg: ToolRegistry) -> None:
    yes = headless_approval(True)
    assert yes.policy == "auto"  # nothing asks: every call runs, decision "auto"
    assert yes.approver(ToolCall("python", {"code": "1"}, ""), "execute", "1") == Decision.allow_once()
    no = headless_approval(False)
    assert no.approver is None and no.policy == "auto-read"  # what would ask is denied
    assert headless_approval(False, "auto").policy == "auto-read" and headless_approval(False, "ask").policy == "ask"
    with pytest.raises(UsageError):
        headless_approval(False, "sometimes")


def test_preview_write_and_edit_show_diffs_without_writing(reg: ToolRegistry, ws: Workspace) -> None:
    before = (ws.root / "a.py").read_text()
    text = preview(reg.get("edit_file"), SAMPLE_ARGS["edit_file"], ws)
    assert text.startswith("--- a/a.py\n+++ b/a.py\n") and "-x = 1\n+x = 10\n" in text
    text = preview(reg.get("write_file"), SAMPLE_ARGS["write_file"], ws)
    assert text.startswith("--- /dev/null\n+++ b/b.py\n") and "+z = 3\n" in text
    assert (ws.root / "a.py").read_text() == before and not (ws.root / "b.py").exists()
    # calls that would fail say so in the preview
    bad = preview(reg.get("edit_file"), {"path": "a.py", "old_string": "y = 2", "new_string": "y = 3"}, ws)
    assert bad.startswith("(edit_file would fail: old_string occurs 2 times")
    assert "outside the workspace" in preview(reg.get("write_file"), {"path": "../x", "content": ""}, ws)
    assert preview(reg.get("write_file"), {"path": "a.py", "content": before}, ws).startswith("(no change")
    assert "invalid arguments" in preview(reg.get("edit_file"), {"path": "a.py"}, ws)


def test_preview_command_code_and_reads(reg: ToolRegistry, ws: Workspace) -> None:
    assert preview(reg.get("run_shell"), {"command": "make test"}, ws) == "$ make test"
    assert preview(reg.get("run_shell"), {"command": "make", "timeout": 5}, ws) == "$ make\n(timeout 5 s)"
    assert preview(reg.get("python"), {"code": "print(1)\nprint(2)"}, ws) == "print(1)\nprint(2)"
    assert json.loads(preview(reg.get("grep"), {"pattern": "x"}, ws)) == {"pattern": "x"}


# ---- the schemas in the real chat template ---------------------------------------------------------


def test_schemas_render_through_the_official_template(reg: ToolRegistry) -> None:
    from glmchat.glm.template import render_prompt

    schemas = reg.schemas()
    prompt = render_prompt(TEMPLATE.read_text(), [{"role": "user", "content": "fix the bug"}], tools=schemas)
    assert prompt.startswith("[gMASK]<sop><|system|>\n# Tools\n")
    block = prompt.split("<tools>\n", 1)[1].split("</tools>", 1)[0]
    rendered = [json.loads(line) for line in block.splitlines() if line.strip()]
    assert rendered == schemas  # every schema, in order, round-trips as JSON
    assert "&#34;" not in prompt and "\\u003c" not in prompt  # no HTML escaping of the schemas
    assert prompt.endswith("<|user|>fix the bug<|assistant|><think>")


def test_model_call_parsed_from_glm_text_executes(reg: ToolRegistry, ws: Workspace) -> None:
    """A call in GLM's own format → parser → registry, then the round trip renders back through the template."""
    from glmchat.glm.parser import GlmStreamParser, ToolCall
    from glmchat.glm.template import render_prompt

    schemas = reg.schemas()
    raw = (
        "<tool_call>read_file<arg_key>path</arg_key><arg_value>a.py</arg_value>"
        "<arg_key>start_line</arg_key><arg_value>2</arg_value><arg_key>end_line</arg_key><arg_value>2</arg_value></tool_call>"
    )
    parser = GlmStreamParser(tools=schemas, thinking=False)
    events = parser.feed(raw) + parser.finish()
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(calls) == 1 and calls[0].arguments == {"path": "a.py", "start_line": 2, "end_line": 2}
    result = reg.execute(calls[0].name, calls[0].arguments, ToolContext(ws, undo=UndoLog()))
    assert result.ok and result.output.startswith("2\ty = 2")
    messages = [
        {"role": "user", "content": "line 2?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": calls[0].name, "arguments": calls[0].arguments}}]},
        {"role": "tool", "content": result.for_model()},
    ]
    prompt = render_prompt(TEMPLATE.read_text(), messages, tools=schemas)
    assert raw in prompt
    assert f"<|observation|><tool_response>{result.for_model()}</tool_response>" in prompt
