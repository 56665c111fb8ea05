"""Checks on a model file before llama.cpp sees it, so failures read as one clear line.

`check_model_file(path)` catches the common mistakes (missing path, an unreachable folder, a directory,
a FIFO, device or socket (refused at once: opening one could block), not a GGUF, a truncated
download, an unreadable file) and raises `ModelError` with a hint.
`read_header(path)` is `glmchat.engine.gguf_meta.read_gguf` with its errors turned into `ModelError`s,
and `check_memory(path, n_ctx)` estimates the KV cache for a context size (per-layer figure from
`glmchat.engine.planner.kv_bytes_per_token_layer`) and refuses contexts that cannot fit in RAM + VRAM.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glmchat.engine.gguf_meta import GgufFormatError, GgufInfo, GgufTruncatedError, read_gguf
from glmchat.errors import ModelError
from glmchat.regular_files import NotRegularFileError, file_kind
from glmchat.units import size_text

GgufHeader = GgufInfo  # the parsed header (kept as a name for callers of this module)

# bytes per element of the KV cache for the cache types glmchat offers
KV_BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass
class MemoryEstimate:
    n_ctx: int
    file_bytes: int
    kv_bytes: int
    ram_bytes: int
    vram_bytes: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def budget_bytes(self) -> int:
        return self.ram_bytes + self.vram_bytes


def _not_gguf(path: Path, why: str) -> ModelError:
    return ModelError(f"{path} is not a GGUF model file ({why}).", "Point --model at a .gguf file (e.g. one fetched with `glmchat download`).")


def _truncated(path: Path, have: int, want: int | None) -> ModelError:
    size = f" ({size_text(have)} of {size_text(want)})" if want else ""
    return ModelError(
        f"{path} is truncated{size}: the download did not finish or the file was cut short.",
        "Download it again with `glmchat download` (it resumes and verifies), or point --model at a complete file.",
    )


def _unreadable(path: Path) -> ModelError:
    return ModelError(f"Cannot read {path}: permission denied.", f"Make it readable: chmod a+r '{path}'.")


def _not_regular(path: Path, kind: str) -> ModelError:
    return ModelError(f"{path} is {kind}, not a model file.", "Point --model at a regular .gguf file (a FIFO or device is never opened).")


def read_header(path: str | os.PathLike[str]) -> GgufInfo:
    """Parse the GGUF header of `path`; ModelError for anything that is not a complete GGUF header."""
    path = Path(path)
    try:
        return read_gguf(path)
    except GgufTruncatedError:
        raise _truncated(path, path.stat().st_size, None) from None
    except GgufFormatError as exc:
        why = str(exc)
        if why.startswith("not a GGUF file (") and why.endswith(")"):
            why = why[len("not a GGUF file (") : -1]
        raise _not_gguf(path, why) from None
    except PermissionError:
        raise _unreadable(path) from None
    except NotRegularFileError as exc:
        raise _not_regular(path, exc.kind) from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a directory, not a model file.", "Point --model at the .gguf file inside it.") from None
    except FileNotFoundError:
        raise ModelError(f"Model file not found: {path}.", "Check the path, or download a model with `glmchat download`.") from None
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror or exc}.", "Check the file and the disk it is on.") from None


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """Return the resolved path of a complete, readable GGUF file, or raise ModelError saying why not."""
    p = Path(path).expanduser()
    try:
        exists = p.exists()
        is_dir = exists and p.is_dir()
        mode = p.stat().st_mode if exists else 0
    except PermissionError:  # a folder on the way cannot be searched (no x permission)
        raise ModelError(
            f"Cannot reach {p}: permission denied on a folder in its path.",
            "Each folder leading to the model needs search (x) permission, e.g. chmod a+x on it; or move the model.",
        ) from None
    except OSError as exc:  # name too long, I/O error, ...
        raise ModelError(f"Cannot look up {p}: {exc.strerror or exc}.", "Check the path.") from None
    if not exists:
        hint = "Check the path, or download a model with `glmchat download`."
        try:
            near = sorted(x.name for x in p.parent.glob("*.gguf"))[:3] if p.parent.is_dir() else []
        except OSError:
            near = []
        if near:
            hint = f"GGUF files in {p.parent}: {', '.join(near)}."
        raise ModelError(f"Model file not found: {p}.", hint)
    if is_dir:
        try:
            ggufs = sorted(x.name for x in p.glob("*.gguf"))[:3]
        except OSError:
            ggufs = []
        hint = f"Point --model at one of: {', '.join(ggufs)}." if ggufs else "Point --model at a .gguf file."
        raise ModelError(f"{p} is a directory, not a model file.", hint)
    if not stat.S_ISREG(mode):
        raise _not_regular(p, file_kind(mode))
    if not os.access(p, os.R_OK):
        raise _unreadable(p)
    header = read_header(p)
    if header.truncated:
        raise _truncated(p, header.file_size, header.data_end)
    return p.resolve()


def total_ram_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    from glmchat.engine.devices import ram

    return ram()[0]


def kv_bytes_per_token(header: GgufInfo, kv_cache_type: str = "f16") -> int:
    """Estimated KV-cache bytes one token of context takes for this model (0 when unknown).

    The per-layer f16 figure is the offload planner's (`kv_bytes_per_token_layer`), scaled to the
    cache type, so `check_memory` and the plan agree.
    """
    from glmchat.engine.planner import kv_bytes_per_token_layer

    n_layer = int(header.arch_value("block_count", 0) or 0)
    if not n_layer:
        return 0
    per_elem = KV_BYTES_PER_ELEMENT.get(kv_cache_type, 2.0)
    return int(n_layer * kv_bytes_per_token_layer(header.metadata, header.architecture) * per_elem / 2.0)


def check_memory(
    path: str | os.PathLike[str],
    n_ctx: int,
    *,
    kv_cache_type: str = "f16",
    ram_bytes: int | None = None,
    vram_bytes: int = 0,
    header: GgufInfo | None = None,
) -> MemoryEstimate:
    """Estimate memory for `n_ctx` tokens; ModelError when the context obviously cannot fit.

    The weights are memory-mapped, so a file larger than RAM still runs (slowly, from disk); the KV
    cache, however, is allocated in full. Refused: a KV cache larger than RAM + VRAM on its own, or
    weights + KV cache above twice RAM + VRAM. Unknown memory sizes are never refused.
    """
    header = header or read_header(path)
    ram = total_ram_bytes() if ram_bytes is None else ram_bytes
    kv = kv_bytes_per_token(header, kv_cache_type) * max(0, n_ctx)
    est = MemoryEstimate(n_ctx, header.file_size, kv, ram, vram_bytes)
    budget = est.budget_bytes
    if budget <= 0:
        return est
    if kv > budget or header.file_size + kv > 2 * budget:
        per_token = kv_bytes_per_token(header, kv_cache_type)
        room = max(0, budget - header.file_size // 2)
        fit = room // per_token if per_token else 0
        fit = max(256, fit // 1024 * 1024)
        where = "RAM + VRAM" if vram_bytes else "RAM"
        raise ModelError(
            f"A {n_ctx:,}-token context needs about {size_text(kv)} of KV cache on top of the {size_text(header.file_size)} model; "
            f"this machine has {size_text(budget)} of {where}.",
            f"Lower the context, e.g. --ctx {fit}" + (', or set kv_cache_type = "q8_0" in config.toml.' if kv_cache_type == "f16" else "."),
        )
    return est
