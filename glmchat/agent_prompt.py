"""The built-in system prompt for work in a workspace (tools on): the environment, how to use the tools.

The environment (workspace, OS, shell, date, git branch and a short status) is taken once per
conversation and workspace and then kept as it was: a date, a clock or a git status that changed
from turn to turn would change the first tokens of every prompt and defeat the engine's KV prefix
cache. `PromptContext` holds that snapshot and the project instructions (re-read only when an
AGENTS.md file changes on disk); the session resets it when it starts or opens a conversation. The
conversation records its environment (settings JSON, "environment"), so reopened it sends the same
system prompt and its KV snapshot still matches.

git runs with a short timeout, without a shell, without the repository's fsmonitor hook or optional
locks (through tools/shell.run_process); no git, a timeout or a folder outside a repository just
leave the git line out.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from glmchat.instructions import Instructions, load_instructions, repository_root, still_current

GIT_TIMEOUT = 3.0  # seconds for `git status`; a slower repository gets no status line
STATUS_LINES = 10  # changed paths listed; the rest are counted
_GIT = ("-c", "core.fsmonitor=false", "--no-optional-locks")

ENV_KEY = "environment"  # where a conversation's settings JSON keeps its environment (reopened: the same prompt)
INTRO = "You are a coding agent working in the user's project through the tools below (run by glmchat)."


@dataclass(frozen=True)
class Environment:
    workspace: Path
    os_name: str
    shell: str
    date: str
    git: str | None  # branch and short status, or None outside a repository

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "workspace": str(self.workspace)}

    @classmethod
    def from_record(cls, data: Any) -> Environment | None:
        """The environment a conversation recorded; None when the record is missing or malformed."""
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or set(data) != set(names):
            return None
        if not all(isinstance(data[n], str) for n in names if n != "git") or not isinstance(data["git"], (str, type(None))):
            return None
        return cls(**{**data, "workspace": Path(data["workspace"])})

    def text(self) -> str:
        lines = [
            "# Environment",
            f"- Workspace: {self.workspace} (the tools work inside it; give paths relative to it)",
            f"- OS: {self.os_name}",
            f"- Shell: run_shell runs /bin/sh -c in the workspace root (the user's shell is {self.shell})",
            f"- Date: {self.date}",
        ]
        if self.git:
            lines.append(f"- Git (when this conversation started): {self.git}")
        return "\n".join(lines)


def git_summary(root: Path) -> str | None:
    """'branch main, clean' / 'branch main, 3 changed: …' for a workspace in a repository; None otherwise."""
    if repository_root(root) is None:
        return None
    git = shutil.which("git")
    if git is None:
        return None
    from glmchat.tools.shell import run_process

    try:
        res = run_process([git, *_GIT, "status", "--porcelain=v1", "--branch"], root, GIT_TIMEOUT, None, 20_000,
                          {"GIT_OPTIONAL_LOCKS": "0"})
    except Exception:
        return None
    if res.exit_code != 0 or res.timed_out:
        return None
    lines = res.stdout.splitlines()
    head = lines[0][3:] if lines and lines[0].startswith("## ") else "(unknown branch)"
    branch = head.split("...", 1)[0].replace("No commits yet on ", "")
    changed = [line for line in lines[1:] if line.strip()]
    if not changed:
        return f"branch {branch}, clean"
    shown = "\n".join(f"    {line}" for line in changed[:STATUS_LINES])
    more = f"\n    … and {len(changed) - STATUS_LINES} more" if len(changed) > STATUS_LINES else ""
    return f"branch {branch}, {len(changed)} changed:\n{shown}{more}"


def today() -> str:
    return datetime.date.today().isoformat()


def take_environment(root: Path) -> Environment:
    shell = os.path.basename(os.environ.get("SHELL", "")) or "unknown"
    return Environment(
        workspace=root,
        os_name=f"{platform.system()} {platform.release()} ({platform.machine()})".strip(),
        shell=shell,
        date=today(),
        git=git_summary(root),
    )


def tool_guidance(names: list[str]) -> str:
    """How to use the tools that are offered (only those)."""
    has = set(names).__contains__
    lines = ["# How to work"]
    if any(has(n) for n in ("read_file", "grep", "glob", "list_dir")):
        lines.append("- Look before you change: find files with glob, grep or list_dir, and read a file with read_file before you edit it.")
    if has("edit_file"):
        lines.append("- Change files with edit_file (old_string must match exactly once: include enough surrounding lines); "
                     "use write_file only for new files or whole rewrites. Never edit files through shell commands.")
    elif has("write_file"):
        lines.append("- Write files with write_file, never through shell commands.")
    if has("run_shell"):
        lines.append("- Use run_shell for commands (tests, builds, git). There is no terminal and no input: use non-interactive "
                     "flags, and keep output short (e.g. `| tail -n 50`).")
    if has("python"):
        lines.append("- Use python for short computations, not for editing files.")
    if has("web_fetch") or has("web_search"):
        lines.append("- Use the web tools only when the task needs information from the web.")
    lines += [
        ("- Stay inside the workspace. Writes and commands may need the user's approval; when a call is denied, "
         "do not repeat it: take another way or ask."),
        "- Make the smallest change that does the task, in the project's own style; check it (run the tests) when you can.",
        "- Be concise. When you are done, say in a few lines what you changed and how you checked it.",
    ]
    return "\n".join(lines)


def builtin_prompt(env: Environment, tool_names: list[str]) -> str:
    """The whole built-in system prompt."""
    return "\n\n".join([INTRO, env.text(), tool_guidance(tool_names)])


class PromptContext:
    """What the system prompt is built from, kept for a conversation: the environment, the instructions."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._env: Environment | None = None
        self._instructions: Instructions | None = None
        self._instructions_root: Path | None = None
        self._reported: tuple = ()
        self._env_recorded = False
        self.user_dir = user_dir  # None: glmchat's config directory

    def reset(self, recorded: Any = None) -> None:
        """A conversation starts (take the environment afresh at the next request) or is opened
        (`recorded`: the environment it recorded, kept while the workspace is the same)."""
        with self._lock:
            self._env = Environment.from_record(recorded)
            self._env_recorded = self._env is not None
            self._instructions = None

    def unrecorded_environment(self) -> Environment | None:
        """The environment in use when the conversation has not recorded it yet (then it counts as recorded)."""
        with self._lock:
            if self._env is None or self._env_recorded:
                return None
            self._env_recorded = True
            return self._env

    def environment(self, root: Path) -> Environment:
        with self._lock:
            if self._env is None or self._env.workspace != root:
                self._env = take_environment(root)
                self._env_recorded = False
            return self._env

    def instructions(self, root: Path) -> Instructions:
        with self._lock:
            found = self._instructions
            if found is None or self._instructions_root != root or not still_current(found, root, self.user_dir):
                found = self._instructions = load_instructions(root, self.user_dir)
                self._instructions_root = root
            return found

    def unreported_problems(self, root: Path) -> list[str]:
        """The instructions' problems (skipped or cut files) not told yet; each set is told once."""
        problems = tuple(self.instructions(root).problems)
        with self._lock:
            if problems == self._reported:
                return []
            self._reported = problems
        return list(problems)
