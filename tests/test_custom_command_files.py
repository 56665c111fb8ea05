"""Your own commands from files (glmchat.custom_commands): front matter, placeholders, folders, clashes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glmchat.custom_commands import (
    MAX_COMMAND_BYTES,
    invocation,
    load,
    parse,
    split_front_matter,
)
from glmchat.errors import UsageError


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


def test_front_matter_is_read_as_plain_key_value_lines():
    meta, body = split_front_matter('---\ndescription: "Review a file"\nprofile: precise\ntools: yes\n# note\n---\nReview $1.\n')
    assert meta == {"description": "Review a file", "profile": "precise", "tools": "yes"} and body == "Review $1.\n"
    assert split_front_matter("no front matter\n---\n") == ({}, "no front matter\n---\n")


def test_placeholders_take_the_arguments_split_like_a_shell():
    cmd = parse("review", "Review $1 then $2 (missing: [$3]). All: $ARGUMENTS", Path("r.md"), "user")
    assert cmd.expand('"src/my app.py" tests') == 'Review src/my app.py then tests (missing: []). All: "src/my app.py" tests'
    assert cmd.expand("") == "Review  then  (missing: []). All:"


def test_a_command_without_placeholders_gets_the_arguments_after_its_text():
    cmd = parse("explain", "Explain this.\n", Path("e.md"), "user")
    assert cmd.expand("the parser") == "Explain this.\n\nthe parser"
    assert cmd.expand("  ") == "Explain this."


def test_front_matter_values_are_checked():
    cmd = parse("t", "---\ntools: false\nprofile: tool\n---\nGo.", Path("t.md"), "project")
    assert (cmd.tools, cmd.profile, cmd.description) == (False, "tool", "(project command)")
    with pytest.raises(UsageError):
        parse("t", "---\ntools: maybe\n---\nGo.", Path("t.md"), "user")
    with pytest.raises(UsageError):
        parse("t", "---\ndescription: empty\n---\n\n", Path("t.md"), "user")


def test_load_reads_both_folders_and_reports_clashes(tmp_path):
    config, ws = tmp_path / "config", tmp_path / "ws"
    write(config / "commands", "review", "Mine: $ARGUMENTS")
    write(ws / ".glmchat" / "commands", "review", "The project's: $ARGUMENTS")
    write(ws / ".glmchat" / "commands", "deploy", "---\ndescription: Deploy it\n---\nDeploy.")
    write(ws / ".glmchat" / "commands", "help", "Not the built-in.")
    write(ws / ".glmchat" / "commands", "Bad Name", "x")
    found = load(ws, config, reserved={"help"})
    assert sorted(found.commands) == ["deploy", "review"]
    assert found.get("review").scope == "user" and found.get("deploy").description == "Deploy it"
    problems = "\n".join(found.problems)
    assert "/help is a built-in command" in problems and "/review is yours" in problems and "Bad Name" in problems


def test_a_project_command_file_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "id_rsa").write_text("PRIVATE KEY")
    folder = tmp_path / "ws" / ".glmchat" / "commands"
    folder.mkdir(parents=True)
    os.symlink(tmp_path / "id_rsa", folder / "leak.md")
    found = load(tmp_path / "ws", tmp_path / "config")
    assert found.get("leak") is None and any("leak.md" in p for p in found.problems)


def test_oversized_binary_and_fifo_files_are_left_out_without_waiting(tmp_path):
    folder = tmp_path / "config" / "commands"
    write(folder, "big", "x" * (MAX_COMMAND_BYTES + 1))
    (folder / "bin.md").write_bytes(b"a\x00b")
    os.mkfifo(folder / "fifo.md")
    found = load(None, tmp_path / "config")
    assert found.commands == {} and len(found.problems) == 3


def test_invocation_tells_a_command_from_a_path():
    assert invocation("/review src/app.py  now") == ("review", "src/app.py  now")
    assert invocation("  /Deploy") == ("deploy", "")
    assert invocation("/usr/bin/env is what?") is None and invocation("hello /x") is None
