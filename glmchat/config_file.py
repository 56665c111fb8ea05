"""config.toml as text: the settings in effect written as TOML (`glmchat config`), the commented file
with every key and its default (`glmchat config init`), and writing that file without ever losing the
user's own.

Everything is generated from `glmchat.settings` (SCHEMA, the dataclass defaults, DESCRIPTIONS and the
built-in profiles), so a key added there shows up here by itself. TOML has no null: a value that is
unset is written as a comment, `# threads = (unset)`.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from glmchat import settings as s
from glmchat.errors import ConfigError
from glmchat.private_files import open_private, private_dir, write_private

UNSET = "(unset)"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}

# ---- values --------------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string with every character a terminal could act on escaped (same value)."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08X}")
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    """One TOML value: a bool, number, string, list or table of them (None has no TOML form: see `key_line`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # Python's float repr ("1.0", "1e-05", "inf", "nan") is valid TOML
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: [tools.rules], [tools.web]
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def key_line(key: str, value: Any) -> str:
    """`key = value`, or `# key = (unset)` for None."""
    if value is None:
        return f"# {toml_key(key)} = {UNSET}"
    return f"{toml_key(key)} = {toml_value(value)}"


def _comment(text: str) -> str:
    """`text` as comment lines (line breaks and control characters cannot end a comment early)."""
    return "\n".join("# " + "".join(ch if ch.isprintable() or ch == " " else "?" for ch in line) for line in text.splitlines())


# ---- the settings in effect ------------------------------------------------------------------------


def settings_toml(settings: s.Settings, notes: list[str] | None = None) -> str:
    """`settings` (as `Settings.as_dict` shows them: no credentials) as TOML, `notes` as comments on top.

    tomllib reads it back to `as_dict()` less its unset (None) values.
    """
    data = settings.as_dict()
    out = [_comment(n) for n in notes or []]
    for section, values in data.items():
        if section == "profiles":
            for name, prof in values.items():
                out += ["", f"[profiles.{toml_key(name)}]"] + [key_line(k, v) for k, v in prof.items()]
            continue
        out += ["", f"[{section}]"] + [key_line(k, v) for k, v in values.items()]
    return "\n".join(out).lstrip("\n") + "\n"


# ---- the commented file `config init` writes -------------------------------------------------------

HEADER = """\
glmchat configuration, written by `glmchat config init`: every setting with its default.
Change a value, or delete its line to follow glmchat's default. A line starting with # is a comment:
to set an (unset) value, remove the "# " and write the value, e.g. threads = 8.
`glmchat config` shows the settings in effect; `glmchat config edit` opens this file and checks it."""


def _described(section: str, key: str, value: Any) -> list[str]:
    text = s.DESCRIPTIONS.get(section, {}).get(key, "(no description yet)")
    if isinstance(value, dict):  # a table ([tools.rules]): commented, so a [section.key] table below can still be added
        return ["", _comment(text), f"# {key_line(key, value)}  (or a [{section}.{key}] table)"]
    return ["", _comment(text), key_line(key, value)]


def template() -> str:
    """The commented config.toml: every key of SCHEMA with its default, the built-in profiles, [keys].

    `load_settings()` reads it back to exactly the defaults.
    """
    defaults = s.Settings(path=Path("config.toml"))
    out = [_comment(HEADER)]
    for section, schema in s.SCHEMA.items():
        obj = getattr(defaults, section)
        known = {f.name for f in fields(obj)}
        body = [line for key in schema for line in _described(section, key, getattr(obj, key) if key in known else None)]
        out += ["", f"[{section}]", *body[1:]]
    out += ["", _comment("Sampling profiles, [profiles.NAME]: general and tool are built in (here with their values);\n"
                         "another name adds a profile.")]
    for i, (name, prof) in enumerate(s.BUILTIN_PROFILES.items()):
        values = {k: getattr(prof, k) for k in s.PROFILE_KEYS}
        if i == 0:
            body = [line for key, value in values.items() for line in _described("profiles", key, value)][1:]
        else:
            body = [key_line(key, value) for key, value in values.items()]
        out += [f"[profiles.{toml_key(name)}]", *body, ""]
    out.pop()
    out += ["", _comment('Key bindings of the TUI: id = "key" (several: "ctrl+n,f2"). The defaults:'), "[keys]"]
    out += [f"# {key_line(bid, key)}  # {desc}" for bid, key, desc in _key_defaults()]
    return "\n".join(out) + "\n"


def _key_defaults() -> list[tuple[str, str, str]]:
    """(binding id, default key, what it does) of the TUI's remappable bindings."""
    try:
        from glmchat.tui.keys import DEFAULTS
    except ImportError:  # a build without the TUI's dependencies
        return []
    return [(bid, key, desc) for bid, key, _action, desc, _shown in DEFAULTS]


# ---- writing ------------------------------------------------------------------------------------------


def write_template(path: Path, force: bool = False) -> Path | None:
    """Write `template()` to `path` (0600, its folder 0700). Returns the backup of the file that was
    there (only with `force`), else None. Raises ConfigError when a file is there and not `force`."""
    present = path.exists() or path.is_symlink()
    if present and not force:
        raise ConfigError(
            f"{path} already exists; nothing was written.",
            "`glmchat config edit` opens it; `glmchat config init --force` replaces it with the defaults (keeping a copy).",
        )
    try:
        private_dir(path.parent)
        backup = _backup(path) if present else None
        write_private(path, template().encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}.", "Check the folder's permissions and free space.") from None
    return backup


def _backup(path: Path) -> Path:
    """Copy `path` to the first free `config.toml.bak`, `.bak.1`, … (0600; an existing backup is never replaced)."""
    data = path.read_bytes()
    for n in range(1000):
        target = path.with_name(path.name + ".bak" + (f".{n}" if n else ""))
        try:
            fd = open_private(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return target
    raise OSError(f"no free backup name beside {path}")
