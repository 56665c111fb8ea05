"""Where glmchat keeps things, what config.toml may say, and the sampling profiles.

Paths come from platformdirs and can be moved with GLMCHAT_CONFIG_DIR / GLMCHAT_DATA_DIR /
GLMCHAT_CACHE_DIR. `load_settings()` reads config.toml, checks every key against `SCHEMA` and raises
`ConfigError` naming the file, the line and the key for anything it cannot use.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from glmchat.engine.base import SamplingParams
from glmchat.engine.urls import shown_url
from glmchat.errors import ConfigError, UsageError
from glmchat.private_files import private_dir

APP = "glmchat"

# ---- paths -----------------------------------------------------------------------------------------


def _user_dir(env: str, kind: str) -> Path:
    """$env when set, else platformdirs' user_<kind>_dir for glmchat."""
    value = os.environ.get(env)
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def config_dir() -> Path:
    return _user_dir("GLMCHAT_CONFIG_DIR", "config")


def data_dir() -> Path:
    return _user_dir("GLMCHAT_DATA_DIR", "data")


def cache_dir() -> Path:
    """$GLMCHAT_CACHE_DIR; else, when $GLMCHAT_DATA_DIR moves glmchat's data, a `cache` folder inside it
    (so nothing goes to ~/.cache then); else platformdirs' user cache dir. KV snapshots live here."""
    if not os.environ.get("GLMCHAT_CACHE_DIR") and os.environ.get("GLMCHAT_DATA_DIR"):
        return data_dir() / "cache"
    return _user_dir("GLMCHAT_CACHE_DIR", "cache")


def config_path() -> Path:
    return config_dir() / "config.toml"


def log_path() -> Path:
    """llama.cpp's own log output goes here, never onto the terminal."""
    return data_dir() / "llama.log"


def db_path() -> Path:
    return data_dir() / "conversations.db"


# ---- sampling profiles ----------------------------------------------------------------------------

# Z.ai / Unsloth recommendations for GLM-4.7-Flash: min_p 0.01 (llama.cpp's 0.05 is wrong here),
# repeat penalty off, top_k 40 as in llama.cpp's defaults that the recommendations were run with.
BUILTIN_PROFILES: dict[str, SamplingParams] = {
    "general": SamplingParams(temperature=1.0, top_p=0.95, top_k=40, min_p=0.01, repeat_penalty=1.0),
    "tool": SamplingParams(temperature=0.7, top_p=1.0, top_k=40, min_p=0.01, repeat_penalty=1.0),
}

THINKING_MODES = ("on", "off", "preserve")
APPROVE_POLICIES = ("ask", "auto-read", "auto")
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
SPECULATIVE_MODES = ("auto", "off", "ngram", "mtp")  # glmchat.engine.speculative.MODES
BACKEND_SAMPLING_MODES = ("auto", "on", "off")  # glmchat.engine.backend_sampling.MODES

# ---- schema ------------------------------------------------------------------------------------------


def _bounded(whole: bool, lo: float | None = None, hi: float | None = None) -> Callable[[Any], str | None]:
    """A check for a number (a whole one when `whole`) within [lo, hi]."""

    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int if whole else (int, float)):
            return "must be a whole number" if whole else "must be a number"
        if lo is not None and v < lo:
            return f"must be at least {lo}"
        if hi is not None and v > hi:
            return f"must be at most {hi}"
        return None

    return check


def _num(lo: float | None = None, hi: float | None = None) -> Callable[[Any], str | None]:
    return _bounded(False, lo, hi)


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], str | None]:
    return _bounded(True, lo, hi)


def _str(choices: tuple[str, ...] | None = None) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return "must be a string"
        if choices and v not in choices:
            return "must be one of " + ", ".join(repr(c) for c in choices)
        return None

    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _str_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)
    return None if ok else 'must be a list of names, e.g. ["GITHUB_TOKEN"]'


def _tool_rules(v: Any) -> str | None:
    from glmchat.tools.rules import check_rules  # only when [tools.rules] is used

    return check_rules(v)


def _tool_web(v: Any) -> str | None:
    from glmchat.tools.web import check_web_settings  # only when [tools.web] is used

    return check_web_settings(v)


def _mcp_servers(v: Any) -> str | None:
    from glmchat.mcp.config import check_servers  # each server is checked in load_settings (file, line, key)

    return check_servers(v)


def _int_or_word(*words: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return None
        if isinstance(v, str) and v in words:
            return None
        return "must be a whole number ≥ 0 or one of " + ", ".join(repr(w) for w in words)

    return check


PROFILE_KEYS: dict[str, Callable[[Any], str | None]] = {
    "temperature": _num(0, 5),
    "top_p": _num(0, 1),
    "top_k": _int(0),
    "min_p": _num(0, 1),
    "repeat_penalty": _num(0, 5),
    "max_tokens": _int(1),
    "seed": _int(0),
}

SCHEMA: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "model": {
        "path": _str(),
        "quant": _str(),
        "n_ctx": _int(256, 202752),
        "threads": _int(1),
        "gpu_layers": _int_or_word("auto", "all"),
        "cpu_moe": _int_or_word("all"),
        "flash_attn": _bool,
        "kv_cache_type": _str(KV_CACHE_TYPES),
        "resume_snapshots": _bool,
        "snapshot_budget_mb": _int(0),
        "speculative": _str(SPECULATIVE_MODES),
        "backend_sampling": _str(BACKEND_SAMPLING_MODES),
    },
    "chat": {
        "profile": _str(),
        "thinking": _str(THINKING_MODES),
        "system_prompt": _str(),
        "history": _bool,
        "model_titles": _bool,
        "loop_guard": _bool,
    },
    "ui": {"theme": _str(), "sidebar": _bool, "show_thinking": _bool, "notify": _bool},
    "tools": {
        "enabled": _bool, "approve": _str(APPROVE_POLICIES), "max_rounds": _int(1, 200), "timeout": _num(0.1),
        "sandbox": _str(("auto", "off")), "network": _bool, "env_allow": _str_list,
        "rules": _tool_rules, "web": _tool_web,
    },
    "remote": {"base_url": _str(), "api_key_env": _str(), "model": _str(), "timeout": _num(0.1)},
    "mcp": {"timeout": _num(0.1), "servers": _mcp_servers},
    # [profiles.NAME] and [keys] are checked separately (open-ended names)
}

# One line per key of SCHEMA and PROFILE_KEYS: what it does (the comments `glmchat config init` writes;
# tests/cli/test_config_command.py fails for a key without one).
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "model": {
        "path": "A GGUF file to run instead of a downloaded quant (unset: a quant from the Hub).",
        "quant": 'Which Unsloth quant of GLM-4.7-Flash to run, e.g. "UD-Q4_K_XL" (unset: the one that fits this machine).',
        "n_ctx": "Context size in tokens, 256 to 202752; the KV cache grows with it.",
        "threads": "CPU threads for generation (unset: the physical cores).",
        "gpu_layers": 'Layers on the GPU: a number, "auto" (planned from free memory) or "all".',
        "cpu_moe": 'Keep the routed experts of the first N layers (or "all") in RAM (unset: as planned).',
        "flash_attn": "Flash attention, where the backend has it.",
        "kv_cache_type": 'KV cache precision: "f16", "q8_0" or "q4_0" (smaller, slightly less exact).',
        "resume_snapshots": "Save the KV cache of long conversations so reopening one is instant.",
        "snapshot_budget_mb": "Disk space (MiB) those KV snapshots may take; the least recently used go first (0: none).",
        "speculative": 'Speculative decoding: "auto" (n-gram drafts, plus MTP guesses with a NextN layer; while they pay), "ngram", "off", or "mtp".',
        "backend_sampling": 'Sampling inside llama.cpp\'s compute graph: "auto" (when the output layer is on a GPU), "on" or "off" (the CPU chain).',
    },
    "chat": {
        "profile": 'Sampling profile: "general", "tool" or a [profiles.NAME] below.',
        "thinking": 'Thinking: "on", "off", or "preserve" (earlier turns keep their thinking in the prompt).',
        "system_prompt": "A system prompt before every conversation (unset: none).",
        "history": "Keep conversations in the history database.",
        "model_titles": "Let the model title a conversation after its first exchange.",
        "loop_guard": "Catch a looping model: a repeated tool call is not run again, a repeating thought is closed, a repeating answer stopped.",
    },
    "ui": {
        "theme": "Theme of the TUI (glm-dark, glm-light, glm-nord, or one from the config directory's themes/).",
        "sidebar": "Show the conversation sidebar at start.",
        "show_thinking": "Show the model's thinking in the chat.",
        "notify": "Bell or terminal notification when a long answer ends or an approval waits while the terminal is unfocused.",
    },
    "tools": {
        "enabled": "Let the model call tools (read, search, edit files, run commands) at start.",
        "approve": 'Approvals: "ask" for everything, "auto-read" (reads run, changes ask) or "auto".',
        "max_rounds": "Tool calls the model may chain in one turn, 1 to 200.",
        "timeout": "Seconds a tool call may run.",
        "sandbox": 'run_shell and python in bubblewrap where it works ("auto") or never ("off").',
        "network": "Network for those processes (false needs the sandbox).",
        "env_allow": 'Secret-looking environment variables tool processes still get, e.g. ["GITHUB_TOKEN"].',
        "rules": 'Permission rules per tool, first match wins, e.g. run_shell = { "git status*" = "allow", "rm *" = "deny" }.',
        "web": 'web_search\'s endpoint, a SearxNG-style JSON API: { search_url = "http://localhost:8888/search" } (unset: no web_search); allow_private = true lets web_fetch reach this machine and local networks.',
    },
    "remote": {
        "base_url": "An OpenAI-compatible server to use instead of llama.cpp, e.g. http://host:8000/v1 (unset: local).",
        "api_key_env": "Name of the environment variable holding that server's API key.",
        "model": "Model name to ask that server for (unset: the one it serves).",
        "timeout": "Seconds to wait for that server.",
    },
    "mcp": {
        "timeout": "Seconds an MCP server may take to start or to answer one tool call.",
        "servers": 'MCP servers, one [mcp.servers.NAME] table each: command/args/env (stdio) or url/headers_env (HTTP), enabled.',
    },
    "profiles": {
        "temperature": "Sampling temperature, 0 to 5.",
        "top_p": "Nucleus sampling: keep the most likely tokens up to this probability, 0 to 1.",
        "top_k": "Keep only the k most likely tokens (0: off).",
        "min_p": "Drop tokens less likely than min_p times the most likely one, 0 to 1.",
        "repeat_penalty": "Penalty on repeated tokens (1.0: off).",
        "max_tokens": "Longest answer in tokens (unset: until the model stops or the context is full).",
        "seed": "Random seed, for repeatable answers (unset: random).",
    },
}


@dataclass
class ModelSettings:
    path: str | None = None
    quant: str | None = None
    n_ctx: int = 16384
    threads: int | None = None  # None = physical cores
    gpu_layers: int | str = "auto"
    cpu_moe: int | str | None = None
    flash_attn: bool = True
    kv_cache_type: str = "f16"
    resume_snapshots: bool = True  # save/restore the KV cache of long conversations (instant resume)
    snapshot_budget_mb: int = 4096  # KV snapshots kept in cache_dir()/kv at most; the oldest go first
    speculative: str = "auto"  # auto | off | ngram | mtp (glmchat.engine.speculative)
    backend_sampling: str = "auto"  # auto | on | off (glmchat.engine.backend_sampling)


@dataclass
class ChatSettings:
    profile: str = "general"
    thinking: str = "on"
    system_prompt: str | None = None
    history: bool = True
    model_titles: bool = False
    loop_guard: bool = True  # glmchat.loop_guard: repeated tool calls, repeating thoughts and answers


@dataclass
class UISettings:
    theme: str = "glm-dark"
    sidebar: bool = True
    show_thinking: bool = True
    notify: bool = True  # a bell or the terminal's notification when a long answer ends or an approval waits, while unfocused


@dataclass
class ToolSettings:
    enabled: bool = False
    approve: str = "auto-read"
    max_rounds: int = 20
    timeout: float = 60.0
    sandbox: str = "auto"  # run_shell / python in bubblewrap where it works (glmchat.tools.sandbox); "off"
    network: bool = True  # false: those processes get no network (needs the sandbox)
    env_allow: list[str] = field(default_factory=list)  # secret-looking variables tool processes still get
    rules: dict[str, dict[str, str]] = field(default_factory=dict)  # [tools.rules]: tool → {pattern: allow|ask|deny}
    web: dict[str, Any] = field(default_factory=dict)  # [tools.web]: search_url (web_search is offered once set), allow_private


@dataclass
class RemoteSettings:
    base_url: str | None = None
    api_key_env: str = "GLMCHAT_API_KEY"
    model: str | None = None
    timeout: float = 600.0


@dataclass
class McpSettings:
    timeout: float = 60.0
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)  # [mcp.servers.NAME] (glmchat.mcp.config)


@dataclass
class Settings:
    path: Path
    exists: bool = False
    model: ModelSettings = field(default_factory=ModelSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    ui: UISettings = field(default_factory=UISettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    profiles: dict[str, SamplingParams] = field(default_factory=lambda: dict(BUILTIN_PROFILES))
    keys: dict[str, str] = field(default_factory=dict)  # binding id → key(s), e.g. {"new": "ctrl+n"}

    def profile(self, name: str | None = None) -> SamplingParams:
        name = name or self.chat.profile
        try:
            return self.profiles[name]
        except KeyError:
            raise UsageError(
                f"Unknown profile {name!r}.", f"Known profiles: {', '.join(sorted(self.profiles))}."
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """The settings as `glmchat config` shows them (an endpoint URL without its credentials)."""
        out: dict[str, Any] = {}
        for section in ("model", "chat", "ui", "tools", "remote"):
            obj = getattr(self, section)
            out[section] = {f.name: getattr(obj, f.name) for f in fields(obj)}
        if self.remote.base_url:
            out["remote"]["base_url"] = shown_url(self.remote.base_url)
        out["profiles"] = {k: v.to_dict() for k, v in self.profiles.items()}
        out["keys"] = dict(self.keys)
        return out


_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}


def valid_key(spec: str) -> bool:
    """True for a Textual key such as "ctrl+n", "f2", "shift+enter", "a" or "question_mark"."""
    *mods, name = spec.lower().split("+") if spec else [""]
    if not name or any(m not in _MODIFIERS for m in mods):
        return False
    if len(name) == 1 or re.fullmatch(r"f([1-9]|1[0-9]|2[0-4])", name):
        return True
    from textual import keys as tk  # only when [keys] is used: textual costs ~0.1 s to import

    names = {k.value.split("+")[-1] for k in tk.Keys} | set(tk.KEY_ALIASES) | {tk._character_to_key(chr(c)) for c in range(33, 127)}
    return name in names


def _line_of(text: str, table: list[str], key: str | None) -> int | None:
    """Best-effort line number of `key` inside `[table]` (or of the table header when key is None)."""
    lines = text.splitlines()
    header_re = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(t) for t in table) + r"\s*\]\s*(#.*)?$")
    in_table = not table
    start = None
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = bool(header_re.match(line)) if table else False
            if in_table:
                start = i
                if key is None:
                    return i
            continue
        if in_table and key is not None and re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
            return i
    # a sub-table of its own ([tools.rules]), else the dotted or inline form: search for the key anywhere
    if key is not None:
        sub_re = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(t) for t in [*table, key]) + r"\s*\]")
        for i, line in enumerate(lines, 1):
            if sub_re.match(line):
                return i
        for i, line in enumerate(lines, 1):
            if re.search(r"(^|[\s.{,])" + re.escape(key) + r"\s*=", line):
                return i
    return start


def _fail(path: Path, text: str, table: list[str], key: str | None, problem: str) -> ConfigError:
    line = _line_of(text, table, key)
    where = f"{path}:{line}" if line else str(path)
    dotted = ".".join(table + ([key] if key else []))
    return ConfigError(f"{where}: {dotted} {problem}.", "Fix or remove that line (glmchat config shows the settings once the file is valid).")


def _check_mcp_servers(path: Path, text: str, servers: Any) -> None:
    """Each [mcp.servers.NAME] table checked, an error naming its line and key."""
    if not isinstance(servers, dict):
        return  # reported by the schema check of mcp.servers
    from glmchat.mcp.config import server_problem

    for name, spec in servers.items():
        found = server_problem(name, spec)
        if found is not None:
            key, problem = found
            raise _fail(path, text, ["mcp", "servers", name], key, problem)


def load_settings(path: Path | None = None) -> Settings:
    path = Path(path) if path else config_path()
    settings = Settings(path=path)
    if not path.exists():
        return settings
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}.", "Check the file's permissions and encoding.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.", "Fix the syntax at that line.") from None
    settings.exists = True

    for section, value in data.items():
        if section == "profiles":
            if not isinstance(value, dict):
                raise _fail(path, text, [], "profiles", "must be a table of [profiles.NAME] sections")
            for name, prof in value.items():
                if not isinstance(prof, dict):
                    raise _fail(path, text, ["profiles"], name, "must be a table")
                base = settings.profiles.get(name, BUILTIN_PROFILES["general"])
                updates: dict[str, Any] = {}
                for k, v in prof.items():
                    check = PROFILE_KEYS.get(k)
                    if check is None:
                        raise _fail(path, text, ["profiles", name], k, "is not a profile setting (known: " + ", ".join(PROFILE_KEYS) + ")")
                    problem = check(v)
                    if problem:
                        raise _fail(path, text, ["profiles", name], k, problem)
                    updates[k] = float(v) if k in ("temperature", "top_p", "min_p", "repeat_penalty") else v
                settings.profiles[name] = replace(base, **updates)
            continue
        if section == "keys":
            if not isinstance(value, dict):
                raise _fail(path, text, [], "keys", "must be a table")
            for k, v in value.items():
                if not isinstance(v, str) or not v.strip():
                    raise _fail(path, text, ["keys"], k, "must be a key name such as \"ctrl+n\"")
                bad = [part for part in v.split(",") if not valid_key(part.strip())]
                if bad:
                    raise _fail(path, text, ["keys"], k, f"names a key terminals cannot send ({bad[0].strip()!r}); use e.g. \"ctrl+n\", \"f2\", \"alt+x\"")
                settings.keys[k] = v
            continue
        schema = SCHEMA.get(section)
        if schema is None:
            known = ", ".join(list(SCHEMA) + ["profiles", "keys"])
            raise _fail(path, text, [section], None, f"is not a known section (known: {known})")
        if not isinstance(value, dict):
            raise _fail(path, text, [], section, "must be a table")
        if section == "mcp":
            _check_mcp_servers(path, text, value.get("servers"))
        target = getattr(settings, section)
        for k, v in value.items():
            check = schema.get(k)
            if check is None:
                raise _fail(path, text, [section], k, "is not a known setting (known: " + ", ".join(schema) + ")")
            problem = check(v)
            if problem:
                raise _fail(path, text, [section], k, problem)
            setattr(target, k, v)

    if settings.chat.profile not in settings.profiles:
        raise _fail(path, text, ["chat"], "profile", f"names no profile (known: {', '.join(sorted(settings.profiles))})")
    return settings


def save_ui_choice(key: str, value: Any, path: Path | None = None) -> None:
    """Remember a choice made in the app (e.g. the theme) in config.toml's [ui] table.

    Rewrites only that one key's line (or appends it), keeping the user's comments and layout.
    """
    path = Path(path) if path else config_path()
    private_dir(path.parent)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    rendered = f"{key} = " + ("true" if value is True else "false" if value is False else f'"{value}"' if isinstance(value, str) else str(value))
    lines = text.splitlines()
    in_ui = False
    ui_header = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("["):
            in_ui = re.match(r"^\[\s*ui\s*\]", s) is not None
            if in_ui:
                ui_header = i
            continue
        if in_ui and re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
            lines[i] = rendered
            break
    else:
        if ui_header is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += ["[ui]", rendered]
        else:
            lines.insert(ui_header + 1, rendered)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
