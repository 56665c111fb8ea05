"""The environment tool processes get: glmchat's and the Hub's secrets left out.

`run_shell`, `python`, `/run`, `/py` and the git calls of `/diff` start from glmchat's own
environment minus every variable that looks like a credential: the names in `SECRET_NAMES`, any
name ending in one of `SECRET_SUFFIXES` (compared case-insensitively), and the variable
`[remote] api_key_env` names. `[tools] env_allow` lets named variables (shell-style patterns, e.g.
"GITHUB_TOKEN" or "AWS_*") through anyway.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Mapping

# Credentials glmchat itself, the Hugging Face Hub and the usual model and cloud clients read.
SECRET_NAMES: frozenset[str] = frozenset(
    {
        "GLMCHAT_API_KEY",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACEHUB_API_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CLIENT_SECRET",
    }
)
# Any variable whose name ends like this is treated as a secret (GITHUB_TOKEN, DB_PASSWORD, …).
SECRET_SUFFIXES: tuple[str, ...] = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "SECRET_KEY",
    "PRIVATE_KEY",
    "CREDENTIALS",
    "AUTH",
)


def is_secret_name(name: str) -> bool:
    """True for a variable name on the deny list (exact names, or a `_SUFFIX` / the bare suffix)."""
    upper = name.upper()
    if upper in SECRET_NAMES:
        return True
    return any(upper == s or upper.endswith("_" + s) for s in SECRET_SUFFIXES)


def allowed(name: str, allow: Iterable[str]) -> bool:
    """True when `name` matches one of the allow patterns (exact, case-sensitive, or fnmatch)."""
    return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for pattern in allow)


def tool_environment(base: Mapping[str, str], allow: Iterable[str] = (), deny: Iterable[str] = ()) -> dict[str, str]:
    """`base` without secrets: the deny list plus `deny` (extra names), unless `allow` lets them through."""
    allow = tuple(allow)
    extra = {d.upper() for d in deny if d}
    out = {}
    for name, value in base.items():
        if (is_secret_name(name) or name.upper() in extra) and not allowed(name, allow):
            continue
        out[name] = value
    return out


def left_out(base: Mapping[str, str], allow: Iterable[str] = (), deny: Iterable[str] = ()) -> list[str]:
    """The names `tool_environment` drops from `base` (for doctor and tests)."""
    kept = tool_environment(base, allow, deny)
    return sorted(n for n in base if n not in kept)
