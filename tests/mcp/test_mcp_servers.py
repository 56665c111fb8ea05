"""Real MCP servers (written with the SDK, tests/fixtures/mcp_server.py) under a scripted GLM turn:
the request carries the server's tools, calls go through approval and modes, results come back, and a
server that is missing, dies or hangs gives one notice while the turn goes on and no process is left."""

from __future__ import annotations

import time

import pytest

from glmchat.engine.scripted import ScriptedEngine
from glmchat.mcp.config import ServerConfig
from glmchat.mcp.manager import McpManager
from glmchat.mcp.tools import McpToolSource
from glmchat.session import Approval, ChatSession, Notice, ToolResultEvent, TurnFinished
from glmchat.settings import load_settings
from glmchat.tools import ToolRegistry, Workspace
from tests.mcp.support import HttpServer, gone_within, pids, stdio_spec

pytestmark = pytest.mark.slow


def call(tool: str, text: str | None = None) -> str:
    args = f"<arg_key>text</arg_key><arg_value>{text}</arg_value>" if text is not None else ""
    return f"I will use it.</think><tool_call>{tool}{args}</tool_call>"


DONE = "Done.</think>All done."


def manager_for(*configs: ServerConfig, timeout: float = 30.0) -> McpManager:
    manager = McpManager(list(configs), timeout=timeout)
    manager.start()
    return manager


def stdio(tmp_path, name: str = "t") -> ServerConfig:
    spec = stdio_spec(tmp_path / "pids")
    return ServerConfig(name, command=spec["command"], args=spec["args"], env=spec["env"])


def session(tmp_path, manager, scripts, approver=None, mode="default"):
    registry = ToolRegistry.builtin()
    registry.add_source(McpToolSource(manager))
    engine = ScriptedEngine(scripts)
    s = ChatSession(engine, load_settings(), tools=registry, tools_enabled=True, workspace=Workspace(tmp_path),
                    approver=approver)
    s.approval.set_mode(mode)
    return s, engine


@pytest.fixture
def stdio_manager(tmp_path):
    manager = manager_for(stdio(tmp_path))
    yield manager
    manager.stop()


def test_the_request_carries_the_schema_and_an_approved_call_reaches_the_next_request(tmp_path, stdio_manager):
    asked = []
    s, engine = session(tmp_path, stdio_manager, [call("mcp__t__shout", "hi"), DONE],
                        approver=lambda c, risk, preview: asked.append((c.name, risk)) or Approval("allow_once"))
    events = list(s.send("shout hi"))
    offered = {t["function"]["name"]: t["function"] for t in engine.requests[0].tools}
    assert offered["mcp__t__shout"]["parameters"]["properties"]["text"]["type"] == "string"
    assert offered["mcp__t__shout"]["parameters"]["required"] == ["text"]
    assert asked == [("mcp__t__shout", "execute")]
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and result.output == "HI!" and result.decision == "allow_once"
    assert engine.requests[1].messages[-1]["role"] == "tool" and "HI!" in engine.requests[1].messages[-1]["content"]
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "All done."


def test_a_denied_call_does_not_run(tmp_path, stdio_manager):
    s, engine = session(tmp_path, stdio_manager, [call("mcp__t__shout", "hi"), DONE], approver=lambda *a: Approval("deny"))
    events = list(s.send("shout hi"))
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and result.decision == "deny" and "HI!" not in result.output
    assert "HI!" not in engine.requests[1].messages[-1]["content"]


def test_plan_mode_runs_a_read_only_tool_and_does_not_offer_the_others(tmp_path, stdio_manager):
    s, engine = session(tmp_path, stdio_manager, [call("mcp__t__echo", "plan"), DONE], mode="plan")
    events = list(s.send("look"))
    offered = {t["function"]["name"] for t in engine.requests[0].tools}
    assert "mcp__t__echo" in offered and not offered & {"mcp__t__shout", "mcp__t__die", "mcp__t__hang"}
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and result.output == "echo:plan" and result.decision == "auto"


def test_a_server_over_streamable_http_on_loopback(tmp_path):
    with HttpServer() as server:
        manager = manager_for(ServerConfig("web", url=server.url))
        try:
            s, engine = session(tmp_path, manager, [call("mcp__web__echo", "over http"), DONE])
            events = list(s.send("echo"))
        finally:
            manager.stop()
    assert "mcp__web__echo" in {t["function"]["name"] for t in engine.requests[0].tools}
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and result.output == "echo:over http"
    assert "echo:over http" in engine.requests[1].messages[-1]["content"]


def test_a_missing_command_gives_one_notice_and_the_other_server_works(tmp_path):
    manager = manager_for(ServerConfig("gone", command="glmchat-no-such-mcp-server"), stdio(tmp_path))
    try:
        s, _ = session(tmp_path, manager, [call("mcp__t__echo", "still"), DONE, DONE])
        events = list(s.send("first")) + list(s.send("second"))
    finally:
        manager.stop()
    notices = [e.text for e in events if isinstance(e, Notice) and "is not available" in e.text]
    assert len(notices) == 1 and "'gone'" in notices[0] and "command not found" in notices[0]
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and result.output == "echo:still"
    assert sum(isinstance(e, TurnFinished) for e in events) == 2


def test_a_server_that_exits_mid_call_is_a_tool_error_and_leaves_no_process(tmp_path):
    manager = manager_for(stdio(tmp_path))
    try:
        s, engine = session(tmp_path, manager, [call("mcp__t__die"), DONE], approver=lambda *a: Approval("allow_once"))
        events = list(s.send("die"))
        pid = pids(tmp_path / "pids")[0]
        assert gone_within(pid)
    finally:
        manager.stop()
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and "stopped during the die call" in result.output
    assert [e for e in events if isinstance(e, Notice) and "'t'" in e.text]  # said once the next round
    assert isinstance(events[-1], TurnFinished) and events[-1].answer == "All done."
    assert "mcp__t__echo" not in {t["function"]["name"] for t in engine.requests[1].tools}


def test_a_server_that_never_answers_times_out_and_stop_ends_it(tmp_path):
    manager = manager_for(stdio(tmp_path))
    try:
        manager.wait_ready()
        manager.timeout = 1.5  # the per-call limit ([mcp] timeout), lowered once started
        s, _ = session(tmp_path, manager, [call("mcp__t__hang"), DONE], approver=lambda *a: Approval("allow_once"))
        started = time.monotonic()
        events = list(s.send("hang"))
        took = time.monotonic() - started
        pid = pids(tmp_path / "pids")[0]
    finally:
        manager.stop()
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and "did not answer hang within 1.5 s" in result.output
    assert took < 10 and isinstance(events[-1], TurnFinished)
    assert gone_within(pid)


def test_stop_ends_every_stdio_server(tmp_path):
    manager = manager_for(stdio(tmp_path, "a"), stdio(tmp_path, "b"))
    manager.wait_ready()
    assert {st.status for st in manager.states.values()} == {"ready"}
    started = pids(tmp_path / "pids")
    assert len(started) == 2
    manager.stop()
    assert all(gone_within(pid) for pid in started)


def test_cancel_stops_a_waiting_call_and_the_server_keeps_answering(tmp_path, stdio_manager):
    import threading

    from glmchat.engine.base import CancelToken
    from glmchat.tools.workspace import ToolError

    stdio_manager.wait_ready()
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()  # Esc, half a second into the call
    started = time.monotonic()
    with pytest.raises(ToolError, match="Cancelled by the user"):
        stdio_manager.call("t", "hang", {}, timeout=30, cancel=cancel)
    assert time.monotonic() - started < 5
    again = stdio_manager.call("t", "echo", {"text": "after"}, timeout=30)
    assert again.content[0].text == "echo:after"


def test_a_turn_waits_for_a_slow_server_and_one_that_never_starts_is_one_notice(tmp_path):
    pid_file = tmp_path / "stuck-pid"
    slow = stdio(tmp_path, "slow")
    slow.command, slow.args = "sh", ["-c", f'sleep 1; exec "{slow.command}" "$@"', "sh", *slow.args]
    stuck = ServerConfig("stuck", command="sh", args=["-c", f'echo $$ >> "{pid_file}"; exec sleep 60'])
    manager = manager_for(slow, stuck, timeout=6)
    try:
        s, _ = session(tmp_path, manager, [call("mcp__slow__echo", "late"), DONE])
        started = time.monotonic()
        events = list(s.send("echo"))
        took = time.monotonic() - started
        stuck_pid = pids(pid_file)[0]
    finally:
        manager.stop()
    texts = [e.text for e in events if isinstance(e, Notice)]
    assert any(t.startswith("Waiting for MCP servers slow, stuck to start") for t in texts)
    assert [t for t in texts if "'stuck'" in t and "did not start within 6 s" in t], texts
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.ok and result.output == "echo:late"
    assert took < 15 and isinstance(events[-1], TurnFinished)
    assert gone_within(stuck_pid)


def test_a_deny_rule_for_an_mcp_tool_wins_over_the_approver(tmp_path, stdio_manager):
    registry = ToolRegistry.builtin()
    registry.add_source(McpToolSource(stdio_manager))
    settings = load_settings()
    settings.tools.rules = {"mcp__t__shout": {"*": "deny"}}
    engine = ScriptedEngine([call("mcp__t__shout", "hi"), DONE])
    s = ChatSession(engine, settings, tools=registry, tools_enabled=True, workspace=Workspace(tmp_path),
                    approver=lambda *a: Approval("allow_once"))
    events = list(s.send("shout"))
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and "HI!" not in result.output and result.decision == "deny"


def test_headers_env_sends_the_variables_value_as_the_header(tmp_path, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    monkeypatch.setenv("GLMCHAT_TEST_MCP_TOKEN", "Bearer s3cret-value")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        manager = manager_for(ServerConfig("remote", url=f"http://127.0.0.1:{httpd.server_port}/mcp",
                                           headers_env={"Authorization": "GLMCHAT_TEST_MCP_TOKEN"}), timeout=10)
        manager.wait_ready()
        manager.stop()
    finally:
        httpd.shutdown()
    assert seen and seen[0] == "Bearer s3cret-value"
    assert manager.states["remote"].status == "failed" and "s3cret" not in (manager.states["remote"].error or "")
