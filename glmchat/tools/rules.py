"""Permission rules: `[tools.rules]` in config.toml, per tool, a glob over the call's command, path or URL.

    [tools.rules]
    run_shell = { "git status*" = "allow", "git diff*" = "allow", "rm *" = "deny" }
    write_file = { "docs/**" = "allow" }

"allow" runs the call without asking, "ask" asks (whatever the approval policy), "deny" refuses it and
tells the model which rule did. Within one file a tool's rules are tried in the order written and
the first match wins. `glmchat.tools.policy.ApprovalPolicy` asks this module before its own policy.

What a pattern is matched against (the call's "subject"):
- run_shell: the command, trimmed, runs of spaces and tabs as one space; `*` matches anything
  (spaces and slashes too), `?` one character, everything else itself.
- tools with a `path` (read_file, write_file, edit_file, list_dir, glob, grep): the path relative to
  the workspace root after resolving it (`..` and symlinks followed), so `docs/../secret` is `secret`;
  `*` stays within a folder, `**` crosses folders, `{a,b}` and `[abc]` as in the glob tool. A path
  outside the workspace matches no rule (the tools refuse it anyway).
- web_fetch: the URL; web_search: the query (as for commands). Any other tool (python): only the
  pattern "*" matches it.

Shell commands and "allow": a command holding a shell control operator or substitution (`;` `&`
`|` a backtick `$(` `>` `<` or a line break) never matches an allow rule, even one whose pattern
would cover it, so `git status*` cannot allow `git status; rm -rf ~` or `git status && curl …`:
such a command falls through to the next rules and the approval policy (which asks). Deny and ask
rules are matched against the whole command and against each part between those operators, so
`rm *` = "deny" also refuses `cd build && rm -rf out` (best effort: it does not parse quoting).

A project may carry `.glmchat/config.toml` in its workspace. Its `[tools.rules]` may add "ask" and
"deny" rules, never "allow" (a cloned repository cannot approve its own commands): a project allow
is dropped with a notice. The user's rules and the project's are each matched first-match-wins;
when both match, the stricter action counts (deny over ask over allow).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from glmchat.errors import GlmchatError
from glmchat.tools.workspace import Workspace

ACTIONS: tuple[str, ...] = ("allow", "ask", "deny")
_STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}
SUBJECT_ARGUMENTS: tuple[str, ...] = ("command", "path", "url", "query")  # the first one a tool has is its subject
PROJECT_CONFIG = ".glmchat/config.toml"
PROJECT_CONFIG_MAX = 256 * 1024

# shell control operators and substitutions: a command holding one never matches an allow rule
SHELL_OPERATORS = re.compile(r"[;&|`<>\n\r]|\$\(")
_SHELL_SPLIT = re.compile(r"&&|\|\||[;&|`\n\r()<>]|\$\(")
_BLANKS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Rule:
    """One `"pattern" = "action"` of a tool's rules, and the file it came from."""

    tool: str
    pattern: str
    action: str
    source: str  # the config file, as shown to the user and the model

    def describe(self) -> str:
        """The rule as the user wrote it, and where: what a denial and a notice name."""
        return f'{self.tool} = {{ "{self.pattern}" = "{self.action}" }} ([tools.rules] in {self.source})'


def check_rules(value: Any) -> str | None:
    """What is wrong with a `[tools.rules]` table (naming the key), or None; settings.SCHEMA's check."""
    if not isinstance(value, dict):
        return 'must be a table of tool = { "pattern" = "allow" | "ask" | "deny" }'
    for tool, patterns in value.items():
        if not isinstance(patterns, dict):
            return f'{tool} must be a table of "pattern" = "allow" | "ask" | "deny", e.g. {tool} = {{ "git status*" = "allow" }}'
        for pattern, action in patterns.items():
            if action not in ACTIONS:
                return f'{tool}."{pattern}" must be "allow", "ask" or "deny" (got {action!r})'
            if not pattern.strip():
                return f"{tool} has an empty pattern"
            if _SUBJECT_KIND.get(tool) == "path":
                from glmchat.tools.search import glob_to_regex

                try:
                    glob_to_regex(pattern)
                except GlmchatError as exc:
                    return f'{tool}."{pattern}" is not a usable glob: {exc.message}'
    return None


def rules_from(table: dict[str, dict[str, str]] | None, source: str) -> list[Rule]:
    """The rules of a checked `[tools.rules]` table, in the order written."""
    return [Rule(tool, pattern, action, source) for tool, patterns in (table or {}).items() for pattern, action in patterns.items()]


# ---- matching --------------------------------------------------------------------------------------

_SUBJECT_KIND = {"read_file": "path", "write_file": "path", "edit_file": "path", "list_dir": "path", "glob": "path", "grep": "path"}


def _text_glob(pattern: str) -> re.Pattern[str]:
    """`*` any run of characters, `?` one character, the rest literal; the whole text must match."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in _BLANKS.sub(" ", pattern.strip())]
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _pattern_matches(pattern: str, subject: str, kind: str) -> bool:
    if kind == "path":
        from glmchat.tools.search import glob_to_regex

        try:
            return glob_to_regex(pattern).match(subject) is not None
        except GlmchatError:
            return False
    return _text_glob(pattern).match(subject) is not None


@dataclass(frozen=True)
class Subject:
    """What a call's rules are matched against: `text` (None: nothing, only "*" matches) of a `kind`."""

    text: str | None
    kind: str  # "path" | "command" | "text"

    def candidates(self, action: str) -> list[str]:
        """The texts a rule of `action` is tried on: see the module's note on shell commands."""
        if self.text is None:
            return []
        if self.kind != "command":
            return [self.text]
        if action == "allow":
            return [] if SHELL_OPERATORS.search(self.text) else [self.text]
        parts = [_BLANKS.sub(" ", p).strip() for p in _SHELL_SPLIT.split(self.text)]
        return [self.text, *(p for p in parts if p and p != self.text)]


def subject_of(tool_name: str, arguments: dict[str, Any], workspace: Workspace) -> Subject:
    """The subject of a call with checked `arguments` (see the module's docstring)."""
    kind = "path" if _SUBJECT_KIND.get(tool_name) == "path" else "command" if tool_name == "run_shell" else "text"
    key = next((k for k in SUBJECT_ARGUMENTS if isinstance(arguments.get(k), str)), None)
    if kind == "path":
        value = arguments.get("path", ".")
        if not isinstance(value, str):
            return Subject(None, kind)
        try:
            return Subject(workspace.display(workspace.resolve(value)), kind)
        except GlmchatError:
            return Subject(None, kind)  # outside the workspace: no rule matches
    if key is None:
        return Subject(None, kind)
    return Subject(_BLANKS.sub(" ", arguments[key].strip()), kind)


def _first_match(rules: tuple[Rule, ...], tool_name: str, subject: Subject) -> Rule | None:
    for rule in rules:
        if rule.tool != tool_name:
            continue
        if subject.text is None:
            if rule.pattern.strip() == "*":
                return rule
            continue
        if any(_pattern_matches(rule.pattern, text, subject.kind) for text in subject.candidates(rule.action)):
            return rule
    return None


@dataclass
class RuleSet:
    """The user's rules (from their config.toml) and the project's (ask/deny only)."""

    user: tuple[Rule, ...] = ()
    project: tuple[Rule, ...] = ()

    def match(self, tool_name: str, subject: Subject) -> Rule | None:
        """The rule that decides this call, or None (the approval policy decides)."""
        found = [r for r in (_first_match(self.user, tool_name, subject), _first_match(self.project, tool_name, subject)) if r]
        return max(found, key=lambda r: _STRICTNESS[r.action]) if found else None


# ---- the project's file -----------------------------------------------------------------------------


@dataclass
class ProjectRules:
    """The ask/deny rules of a workspace's `.glmchat/config.toml`, and notices about what was dropped."""

    rules: tuple[Rule, ...] = ()
    notices: list[str] = field(default_factory=list)


def load_project_rules(workspace: Workspace) -> ProjectRules:
    """Read `[tools.rules]` of the workspace's `.glmchat/config.toml` (absent: no rules).

    Allow rules are dropped with a notice; a file that cannot be read or checked adds no rules and
    says so. Other tables in the file are not read here.
    """
    from glmchat.tools import safe_files

    source = f"{workspace.root / PROJECT_CONFIG}"
    try:
        with safe_files.open_file(workspace, PROJECT_CONFIG) as f:
            data = f.read(PROJECT_CONFIG_MAX + 1)
    except GlmchatError:
        return ProjectRules()  # no such file (or a folder, a FIFO, a link out): nothing to add
    except OSError as exc:
        return ProjectRules(notices=[f"{source}: cannot be read ({exc.strerror or exc}); its rules are not used."])
    if len(data) > PROJECT_CONFIG_MAX:
        return ProjectRules(notices=[f"{source} is over {PROJECT_CONFIG_MAX // 1024} KiB; its rules are not used."])
    try:
        table = tomllib.loads(data.decode("utf-8")).get("tools", {}).get("rules")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError) as exc:
        return ProjectRules(notices=[f"{source} is not valid TOML ({exc}); its rules are not used."])
    if table is None:
        return ProjectRules()
    problem = check_rules(table)
    if problem:
        return ProjectRules(notices=[f"{source}: tools.rules {problem}; its rules are not used."])
    rules, notices = [], []
    for rule in rules_from(table, source):
        if rule.action == "allow":
            notices.append(f"Ignored the project rule {rule.describe()}: a project can add ask and deny rules, "
                           "never allow; put allow rules in your own config.toml.")
        else:
            rules.append(rule)
    return ProjectRules(tuple(rules), notices)


def user_rules(settings: Any) -> RuleSet:
    """The rules of the user's own config.toml (`settings.tools.rules`, checked when it was loaded)."""
    return RuleSet(tuple(rules_from(getattr(settings.tools, "rules", None), str(getattr(settings, "path", "config.toml")))))
