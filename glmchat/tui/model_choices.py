"""What /model offers: downloaded hub quants, GGUF files opened before, the configured one.

Files opened in the TUI are remembered (newest first, at most `MAX_RECENT`) in
`<data dir>/recent_models.json`, so the picker can offer them again next time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from glmchat.private_files import private_dir, write_private

MAX_RECENT = 12


@dataclass
class ModelChoice:
    path: str
    label: str
    source: str  # "downloaded" | "recent" | "config" | "current"


def recent_file() -> Path:
    from glmchat.settings import data_dir

    return data_dir() / "recent_models.json"


def recent_models() -> list[str]:
    """Paths of GGUF files opened before, newest first (missing files left out)."""
    try:
        data = json.loads(recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [p for p in data if isinstance(p, str) and Path(p).is_file()]


def remember_model(path: str | os.PathLike[str]) -> None:
    """Put `path` first in the recent list (best effort: a read-only data dir is not an error)."""
    p = str(Path(path).expanduser().resolve())
    items = [p] + [x for x in recent_models() if x != p]
    target = recent_file()
    try:
        private_dir(target.parent)
        write_private(target, json.dumps(items[:MAX_RECENT], indent=1).encode("utf-8"))
    except OSError:
        pass


def _size(path: str) -> str:
    try:
        n = sum(f.stat().st_size for f in _shards(Path(path)))
    except OSError:
        return "?"
    from glmchat.units import size_text

    return size_text(n)


def _shards(first: Path) -> list[Path]:
    """All shards of a split GGUF given its first one (just the file otherwise)."""
    name = first.name
    if "-00001-of-" in name:
        return sorted(first.parent.glob(name.replace("-00001-of-", "-*-of-")))
    return [first]


def model_choices(config_path: str | None = None, current: str | None = None) -> list[ModelChoice]:
    """Everything /model can switch to, downloaded quants first; no duplicates."""
    out: dict[str, ModelChoice] = {}

    def add(path: str, label: str, source: str) -> None:
        key = str(Path(path).expanduser().resolve()) if path else path
        if key in out:
            return
        out[key] = ModelChoice(key, label, source)

    try:
        from glmchat import hub

        quants = hub.local_quants()
    except Exception:  # a broken cache must not break the picker
        quants = {}
    for name, path in sorted(quants.items()):
        add(str(path), f"{name:<14} downloaded  {_size(str(path)):>8}", "downloaded")
    for path in recent_models():
        add(path, f"{Path(path).name}  {_size(path)}\n  in {Path(path).parent}", "recent")  # a long folder wraps on its own line
    if config_path and Path(config_path).expanduser().is_file():
        add(config_path, f"{Path(config_path).name}  (config.toml)", "config")
    if current and Path(current).is_file():
        add(current, f"{Path(current).name}  (current)", "current")
    cur = str(Path(current).resolve()) if current else None
    for key, choice in out.items():
        if key == cur and "(current)" not in choice.label:
            choice.label += "  ← current"
    return list(out.values())
