""""Always allow commands like this": suggest an allow rule for a call and add it to the user's config.toml.

The approval dialog offers it beside "Allow session": `suggest_pattern` proposes the pattern (for
run_shell the command's first word, or first two for tools with subcommands such as git, plus `*`;
for file tools the folder's glob, e.g. `src/pkg/**`; for web_fetch the site), the user may edit it,
and `add_allow_rule` writes `"pattern" = "allow"` under `[tools.rules]` of their config.toml.

The file is edited in place with tomlkit, so its comments, order and layout stay as they were; the
new text is checked (it must still parse and its rules must be valid) before it replaces the old one
through a 0600 temporary file and a rename (glmchat.private_files), and the previous text is kept
beside it as config.toml.before-rule (a name of its own: the backups `glmchat config init --force`
keeps are never touched). A config.toml that does not parse is never overwritten: the rule is
refused with an error saying so. A command pattern holding a shell control operator is never written
(glmchat.tools.rules never lets such a command ride on an allow anyway).
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from glmchat.errors import ConfigError, GlmchatError
from glmchat.private_files import private_dir, write_private
from glmchat.tools.rules import SHELL_OPERATORS, Rule, check_rules
from glmchat.tools.workspace import Workspace

# commands whose second word is a subcommand: `git log --oneline` → "git log*"
SUBCOMMAND_TOOLS = frozenset({
    "git", "hg", "svn", "gh", "npm", "pnpm", "yarn", "npx", "cargo", "go", "pip", "pip3", "uv", "poetry",
    "docker", "podman", "kubectl", "make", "just", "dotnet", "conda", "brew", "apt", "rustup", "bundle",
    "gradle", "mvn", "terraform", "systemctl", "glmchat",
})
PATH_TOOLS = frozenset({"read_file", "write_file", "edit_file", "list_dir", "glob", "grep"})


def suggest_pattern(tool_name: str, arguments: dict[str, Any], workspace: Workspace) -> str | None:
    """The allow pattern proposed for calls like this one, or None when none can be (a command with
    shell operators, a path outside the workspace)."""
    if tool_name == "run_shell":
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip() or SHELL_OPERATORS.search(command):
            return None
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        if not words:
            return None
        keep = 2 if words[0] in SUBCOMMAND_TOOLS and len(words) > 1 and not words[1].startswith("-") else 1
        return " ".join(words[:keep]) + "*"
    if tool_name in PATH_TOOLS:
        value = arguments.get("path", ".")
        if not isinstance(value, str):
            return None
        try:
            shown = workspace.display(workspace.resolve(value))
        except GlmchatError:
            return None
        folder = shown if tool_name in ("list_dir", "glob", "grep") else str(PurePosixPath(shown).parent)
        return "*" if folder in (".", "") else f"{folder.rstrip('/')}/**"
    if tool_name == "web_fetch":
        url = arguments.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        return f"{parts.scheme}://{parts.netloc}/*" if parts and parts.scheme and parts.netloc else None
    return "*"


def allow_problem(tool_name: str, pattern: str) -> str | None:
    """Why `pattern` cannot be written as an allow rule for `tool_name`, or None."""
    if not pattern.strip():
        return "The pattern is empty."
    if tool_name == "run_shell" and SHELL_OPERATORS.search(pattern):
        return ("The pattern holds a shell control operator (; & | ` $( < > or a line break); "
                "such commands are never allowed by a rule.")
    problem = check_rules({tool_name: {pattern: "allow"}})
    return f"The pattern is not usable: {problem}." if problem else None


def add_allow_rule(tool_name: str, pattern: str, path: Path) -> Rule:
    """Add `tool_name = { "pattern" = "allow" }` to `[tools.rules]` of the config file at `path`
    (created when missing). Raises ConfigError (the file untouched) when that cannot be done."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    problem = allow_problem(tool_name, pattern)
    if problem:
        raise ConfigError(f"Not saved: {problem}", "Edit the pattern, or allow this call once.")
    if path.is_symlink():  # e.g. kept in a dotfiles repository: edit the file it points to, keep the link
        path = path.resolve()
    old = _read(path)
    try:
        doc = tomlkit.parse(old)
    except (TOMLKitError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); the rule was not saved and the file was left as it is.",
                          "Fix the file (glmchat config check), then try again.") from None
    try:
        table = _tool_table(doc, tool_name)
    except (TOMLKitError, TypeError, AttributeError, KeyError) as exc:
        raise ConfigError(f"{path}: [tools.rules] cannot take the rule ({exc}).", "Add it to the file by hand.") from None
    current = table.get(pattern)
    if current == "allow":
        return Rule(tool_name, pattern, "allow", str(path))
    if current is not None:
        raise ConfigError(f'{path} already has the rule {tool_name} = {{ "{pattern}" = "{current}" }}; it was left as it is.',
                          "Change it in the file if you mean to allow these calls.")
    table[pattern] = "allow"
    new = tomlkit.dumps(doc)
    _check(new, path)
    _replace(path, old, new)
    return Rule(tool_name, pattern, "allow", str(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}; the rule was not saved.",
                          "Check the file's permissions and encoding.") from None


def _tool_table(doc: Any, tool_name: str) -> Any:
    """The table (inline or not) of `tool_name`'s rules in `doc`, created as an inline table when missing."""
    import tomlkit

    tools = doc.get("tools")
    if tools is None:
        tools = doc["tools"] = tomlkit.table(is_super_table=True)
    rules = tools.get("rules")
    if rules is None:
        rules = tools["rules"] = tomlkit.table()
    table = rules.get(tool_name)
    if table is None:
        rules[tool_name] = tomlkit.inline_table()
        table = rules[tool_name]
    if not hasattr(table, "get") or not hasattr(table, "__setitem__"):
        raise TypeError(f"tools.rules.{tool_name} is not a table")
    return table


def _check(text: str, path: Path) -> None:
    """The new text must parse and its rules must pass the settings' check."""
    try:
        rules = tomllib.loads(text).get("tools", {}).get("rules", {})
    except (tomllib.TOMLDecodeError, AttributeError) as exc:
        raise ConfigError(f"Adding the rule would have broken {path} ({exc}); it was left as it is.", "Add it by hand.") from None
    problem = check_rules(rules)
    if problem:
        raise ConfigError(f"{path}: tools.rules {problem}; the rule was not saved.", "Fix the file, then try again.")


def _replace(path: Path, old: str, new: str) -> None:
    """Keep the old text as config.toml.before-rule, then put the new one in place (0600, by rename)."""
    try:
        private_dir(path.parent)
        if old:
            write_private(path.with_name(path.name + ".before-rule"), old.encode("utf-8"))
        write_private(path, new.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}; the rule was not saved.",
                          "Check the folder's permissions.") from None


def remember(rule: Rule, policy: Any, settings: Any) -> None:
    """Let the running session use a rule just written: the policy's user rules and the settings' table."""
    from glmchat.tools.rules import RuleSet

    policy.rules = RuleSet((*policy.rules.user, rule), policy.rules.project)
    table = getattr(settings.tools, "rules", None)
    if isinstance(table, dict):
        table.setdefault(rule.tool, {})[rule.pattern] = rule.action


def suggest_for(session: Any, call: Any) -> str | None:
    """The pattern "Always allow" proposes for a call of this session (None: not offered)."""
    try:
        return suggest_pattern(call.name, dict(call.arguments or {}), session.approval.ensure_workspace())
    except GlmchatError:
        return None


def always_allow(session: Any, call: Any, pattern: str) -> tuple[bool, str]:
    """Write the rule for `call`'s tool to the session's config.toml and use it from now on →
    (saved, what to tell the user: also when an earlier rule still decides calls like this one)."""
    path = Path(getattr(session.settings, "path", None) or _default_path())
    try:
        rule = add_allow_rule(call.name, pattern, path)
    except ConfigError as exc:
        return False, f"{exc.message} {exc.hint or ''} This call was allowed once.".strip()
    remember(rule, session.approval, session.settings)
    tool = session.tools.get(call.name)
    first = session.approval.matching_rule(tool, call.arguments) if tool is not None else rule
    if first is not None and first.action != "allow":
        return True, f"Saved {rule.describe()}, but {first.describe()} comes first and still decides calls like this one."
    return True, f"Saved {rule.describe()}: calls like this run without asking from now on."


def _default_path() -> Path:
    from glmchat.settings import config_path

    return config_path()
