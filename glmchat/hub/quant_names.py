"""Quant names in GGUF file names: the one parser the hub catalog, the cache and the engines share.

A quant is named by what follows the model prefix in its file name (`GLM-4.7-Flash-UD-Q4_K_XL.gguf`
→ `UD-Q4_K_XL`); the shards of a split model carry a `-00001-of-00002` suffix that is not part of the
name. Pure string work: no network, no files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from glmchat.hub.hubapi import REPO

_SHARD_RE = re.compile(r"-(\d{5})-of-(\d{5})$")
# llama.cpp's quant labels (Q4_K_M, IQ2_XXS, BF16, …), with Unsloth's "UD-" for its dynamic quants.
_QUANT_LABEL_RE = re.compile(r"(?:UD-)?(?:I?Q\d\w*|BF16|F16|F32)$", re.IGNORECASE)


def model_prefix(repo: str) -> str:
    """'unsloth/GLM-4.7-Flash-GGUF' → 'GLM-4.7-Flash-'."""
    name = repo.rsplit("/", 1)[-1]
    return (name[: -len("-GGUF")] if name.upper().endswith("-GGUF") else name) + "-"


def _split_gguf_name(base: str) -> tuple[str, int, int] | None:
    """'X-Q8_0-00001-of-00002.gguf' → ('X-Q8_0', 1, 2); None when the name is no .gguf."""
    if not base.lower().endswith(".gguf"):
        return None
    stem = base[: -len(".gguf")]
    m = _SHARD_RE.search(stem)
    if not m:
        return stem, 1, 1
    return stem[: m.start()], int(m.group(1)), int(m.group(2))


def parse_gguf_path(path: str, repo: str = REPO) -> tuple[str, int, int] | None:
    """Repo path → (quant name, shard number, shard count), or None when it is no model GGUF."""
    base = path.rsplit("/", 1)[-1]
    split = None if "mmproj" in base.lower() else _split_gguf_name(base)
    if split is None:
        return None
    stem, index, count = split
    prefix = model_prefix(repo)
    if stem.lower().startswith(prefix.lower()):
        stem = stem[len(prefix):]
    return (stem, index, count) if stem else None


def quant_from_filename(path: str | os.PathLike[str], repo: str = REPO) -> str | None:
    """The quant a GGUF file's name carries, or None.

    A llama.cpp quant label at the end of any name counts ('SmolLM2-135M-Instruct-Q4_1.gguf' →
    'Q4_1', 'GLM-4.7-Flash-UD-Q4_K_XL-00001-of-00002.gguf' → 'UD-Q4_K_XL'); failing that, for a
    file of `repo`'s model, whatever follows the model prefix ('GLM-4.7-Flash-MXFP4_MOE.gguf' →
    'MXFP4_MOE').
    """
    split = _split_gguf_name(Path(path).name)
    if split is None:
        return None
    stem = split[0]
    m = _QUANT_LABEL_RE.search(stem)
    if m:
        return m.group(0)
    prefix = model_prefix(repo)
    at = stem.lower().find(prefix.lower())
    return (stem[at + len(prefix):] or None) if at >= 0 else None
