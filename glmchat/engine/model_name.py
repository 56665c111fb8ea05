"""The model's display name: the one name the status bar, the welcome, `ask --json`, the stored
conversation (so `history list/show` and the export header) and `bench` show.

- A local GGUF is named by its file name without the shard suffix and the quant label
  (`SmolLM2-135M-Instruct.Q4_1.gguf` → `SmolLM2-135M-Instruct`,
  `GLM-4.7-Flash-UD-Q4_K_XL-00001-of-00002.gguf` → `GLM-4.7-Flash`); the quant is shown next to it
  (`EngineInfo.quant`). The file name is what the user downloaded or typed; `general.name` is often
  a training-run label (`Smollm2 135M 8k Lc100K Mix1 Ep2`), so it is used only when the file name
  says nothing (`model.gguf`, `ggml-model-q4_0.gguf`), then `general.basename` + `general.size_label`.
- A remote model is named by the id the server serves; an id that is a GGUF path (llama-cpp-python
  serves its `--model` path) by that file's name without `.gguf` and the shard suffix (no quant field
  is shown for a remote model, so its label stays in the name).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SHARD_RE = re.compile(r"-\d{5}-of-\d{5}$")
# file names that name no model (llama.cpp's convert scripts and some uploads use them)
_GENERIC = {"", "model", "ggml-model", "gguf", "weights"}
_BLOB_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a Hugging Face cache blob (the file a snapshot links to)


def _file_stem(name: str) -> str:
    """'X-Q8_0-00001-of-00002.gguf' → 'X-Q8_0'."""
    stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    return _SHARD_RE.sub("", stem)


def _metadata_name(metadata: Mapping[str, Any]) -> str | None:
    name = metadata.get("general.name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    base = metadata.get("general.basename")
    if isinstance(base, str) and base.strip():
        size = metadata.get("general.size_label")
        return f"{base.strip()}-{size}" if isinstance(size, str) and size.strip() else base.strip()
    return None


def local_model_name(path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> str:
    """The display name of a local GGUF (see the module's docstring)."""
    from glmchat.hub.quant_names import quant_from_filename

    stem = _file_stem(Path(path).name)
    quant = quant_from_filename(path)
    name = stem[: -len(quant)].rstrip(".-_ ") if quant and stem.lower().endswith(quant.lower()) else stem
    if name.lower() not in _GENERIC and not _BLOB_RE.fullmatch(name):
        return name
    return _metadata_name(metadata or {}) or stem or Path(path).name


def served_model_name(model_id: str) -> str:
    """The display name of a model a server serves under `model_id`."""
    if not model_id.lower().endswith(".gguf"):
        return model_id
    return _file_stem(model_id.replace("\\", "/").rsplit("/", 1)[-1]) or model_id
