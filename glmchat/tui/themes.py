"""Load Textual themes from TOML files: the shipped ones (glmchat/themes) and the user's own.

A theme file holds Textual `Theme` fields at top level (name, dark, primary, background, …) and an
optional [variables] table. User themes live in `config_dir()/themes/*.toml`; a broken one is skipped
with a note instead of stopping the app.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "themes"
_FIELDS = {f.name for f in fields(Theme)}


def theme_from_toml(path: Path) -> Theme:
    """Parse one theme file. Raises ValueError with a readable reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"{path}: unknown theme keys {', '.join(unknown)}")
    data.setdefault("name", path.stem)
    if "primary" not in data:
        raise ValueError(f"{path}: a theme needs at least `primary`")
    try:
        return Theme(**data)
    except Exception as exc:  # bad colour strings and the like
        raise ValueError(f"{path}: {exc}") from None


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """(themes, problems): shipped themes first, then the user's (which may override by name)."""
    themes: list[Theme] = []
    problems: list[str] = []
    dirs = [SHIPPED_DIR] + ([user_dir] if user_dir is not None else [])
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            try:
                themes.append(theme_from_toml(path))
            except ValueError as exc:
                problems.append(f"Theme skipped: {exc}")
    return themes, problems
