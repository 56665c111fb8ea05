"""The agent's second level end to end over HTTP: `glmchat ask --endpoint --tools --jsonl` against a
scripted OpenAI-compatible server that streams GLM-4.7-Flash's output both ways servers do — parsed
(vLLM's reasoning and tool-call deltas) and raw (the GLM text with its tags in `content`).

What it shows: the first request of a tool-on turn carries the built-in system prompt with the
workspace path and the project's AGENTS.md; `@notes.txt` in the prompt attaches the file; a user
`allow` rule runs a write without --yes while a project `allow` is ignored; plan mode offers no write
tool; the model repeating one call is run twice at most; the JSON lines show the call and its result.
"""

from __future__ import annotations

import json

import pytest

from glmchat.commands import ask
from tests.scripted_sse import SSE, ScriptedServer, vllm_chunks

WRITE_ARGS = json.dumps({"path": "docs/out.md", "content": "hello\n"})


def parsed_write() -> SSE:
    return SSE(vllm_chunks(reasoning=["I will write it."], tools=[("write_file", [WRITE_ARGS[:10], WRITE_ARGS[10:]])]))


def raw_write() -> SSE:
    raw = ("I will write it.</think><tool_call>write_file<arg_key>path</arg_key><arg_value>docs/out.md</arg_value>"
           "<arg_key>content</arg_key><arg_value>hello\n</arg_value></tool_call>")
    return SSE(vllm_chunks(content=[raw[:20], raw[20:70], raw[70:]]))


def answer(text: str = "Written.") -> SSE:
    return SSE(vllm_chunks(reasoning=["Done."], content=[text]))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    (ws / "AGENTS.md").write_text("# Rules\nAlways write docs in docs/.\n")
    (ws / "notes.txt").write_text("The launch is on Friday.\n")
    (ws / ".glmchat").mkdir()
    (ws / ".glmchat" / "config.toml").write_text('[tools.rules]\nwrite_file = { "**" = "allow" }\n')  # ignored
    monkeypatch.chdir(ws)
    return ws


def chats(server) -> list[dict]:
    """The chat requests the server got (not the probes: /extras/tokenize posts too)."""
    return [r for r in server.requests if "messages" in r]


def run(monkeypatch, capsys, server, ws, *, mode: str | None = None, rules: str = "") -> tuple[int, list[dict], str]:
    import os

    config = os.environ["GLMCHAT_CONFIG_DIR"]
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "config.toml"), "w") as f:
        f.write(rules)
    options = dict(prompt="Put a greeting in docs/out.md, see @notes.txt", endpoint=server.base_url, workspace=ws,
                   no_history=True, tools=True, as_jsonl=True)
    if mode:
        options["mode"] = mode
    code = ask.run_ask(ask.AskOptions(**options))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize("reply", [parsed_write, raw_write], ids=["parsed deltas", "raw GLM text"])
def test_a_user_allow_rule_writes_and_the_first_request_carries_prompt_instructions_and_mention(
        workspace, monkeypatch, capsys, reply):
    with ScriptedServer() as server:
        server.reply(reply(), answer())
        code, lines, err = run(monkeypatch, capsys, server, workspace, rules='[tools.rules]\nwrite_file = { "docs/**" = "allow" }\n')
        first = chats(server)[0]
    assert code == 0, err
    system = first["messages"][0]
    assert system["role"] == "system"
    assert str(workspace) in system["content"] and "Always write docs in docs/." in system["content"]
    user = first["messages"][-1]["content"]
    assert "The launch is on Friday." in user  # @notes.txt went with the message
    assert {t["function"]["name"] for t in first["tools"]} >= {"read_file", "write_file", "run_shell"}
    assert (workspace / "docs" / "out.md").read_text() == "hello\n"  # allowed by the user's rule, no --yes
    kinds = [line["type"] for line in lines]
    assert kinds.index("tool_call") < kinds.index("tool_result") and kinds[-1] == "done"
    result = lines[kinds.index("tool_result")]
    assert result["name"] == "write_file" and result["ok"] is True
    notices = " ".join(line.get("text", "") for line in lines if line["type"] == "notice")
    assert ".glmchat/config.toml" in notices and "allow" in notices  # the project's allow rule: ignored, said


def test_without_a_user_rule_the_projects_allow_does_not_count(workspace, monkeypatch, capsys):
    with ScriptedServer() as server:
        server.reply(parsed_write(), answer("Not written."))
        code, lines, _ = run(monkeypatch, capsys, server, workspace)
    assert code == 0
    assert not (workspace / "docs" / "out.md").exists()
    approval = [line for line in lines if line["type"] == "approval"]
    assert approval and approval[0]["decision"] == "deny"


def test_plan_mode_offers_no_write_tool_over_http(workspace, monkeypatch, capsys):
    with ScriptedServer() as server:
        server.reply(answer("Plan: 1. write docs/out.md."))
        code, _, _ = run(monkeypatch, capsys, server, workspace, mode="plan")
        tools = {t["function"]["name"] for t in chats(server)[0].get("tools") or []}
    assert code == 0
    assert "read_file" in tools and not tools & {"write_file", "edit_file", "run_shell"}


def test_the_same_call_repeated_runs_twice_and_the_turn_ends_by_the_fifth_request(workspace, monkeypatch, capsys):
    read = json.dumps({"path": "notes.txt"})
    with ScriptedServer() as server:
        server.reply(*[SSE(vllm_chunks(tools=[("read_file", [read])])) for _ in range(8)])
        code, lines, err = run(monkeypatch, capsys, server, workspace)
        requests = len(chats(server))
    results = [line for line in lines if line["type"] == "tool_result"]
    assert sum(1 for r in results if r["ok"]) == 2
    assert requests <= 5
    assert "repeated the same tool call" in err + json.dumps(lines)
