"""Checks on a model file before llama.cpp sees it, so failures read as one clear line.

`check_model_file(path)` catches the common mistakes (missing path, a directory, not a GGUF,
a truncated download, an unreadable file) and raises `ModelError` with a hint. `read_header(path)`
parses the GGUF header by hand (metadata and tensor table, skipping the large vocabulary arrays), and
`check_memory(path, n_ctx)` estimates the KV cache for a context size and refuses contexts that
cannot fit in RAM + VRAM. Only the standard library is needed; `gguf` supplies the quant block sizes
when it is installed.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glmchat.errors import ModelError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF value types → struct format (scalars only; 8 = string, 9 = array)
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAY_MAX = 256  # longer arrays (vocabulary, merges, scores) are skipped, not parsed

# bytes per element of the KV cache for the cache types glmchat offers
KV_BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the start of the data section


@dataclass
class GgufHeader:
    """What the header of a GGUF file says."""

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int  # absolute offset where tensor data starts
    data_end: int | None  # absolute offset where the last tensor ends (None: unknown quant type)
    file_size: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def context_length(self) -> int:
        return int(self.arch_value("context_length", 0) or 0)


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


class _Truncated(Exception):
    pass


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


class _Cursor:
    """Reads little-endian values from a memory-mapped file (no system call per value)."""

    def __init__(self, buf: Any, len_fmt: str = "<Q") -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)
        self.len_fmt = len_fmt

    def take(self, n: int) -> bytes:
        if self.pos + n > self.size:
            raise _Truncated
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def unpack(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise _Truncated
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self) -> str:
        n = self.unpack(self.len_fmt)
        if n > 1 << 30:
            raise ValueError("string length out of range")
        return self.take(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        fmt = self.len_fmt
        width = struct.calcsize(fmt)
        buf, pos, size = self.buf, self.pos, self.size
        for _ in range(count):
            if pos + width > size:
                raise _Truncated
            pos += width + struct.unpack_from(fmt, buf, pos)[0]
        if pos > size:
            raise _Truncated
        self.pos = pos

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.unpack("<I")
            count = self.unpack(self.len_fmt)
            if count > 1 << 32:
                raise ValueError("array length out of range")
            if count <= _KEEP_ARRAY_MAX:
                return [self.value(etype) for _ in range(count)]
            if etype in _SCALARS:  # skip fixed-size elements in one step
                self.take(0)
                self.pos += count * struct.calcsize(_SCALARS[etype])
                if self.pos > self.size:
                    raise _Truncated
            elif etype == _STRING:
                self.skip_strings(count)
            else:
                for _ in range(count):
                    self.value(etype)
            return _SkippedArray(etype, count)
        raise ValueError(f"unknown GGUF value type {vtype}")


@dataclass(frozen=True)
class _SkippedArray:
    """A long array (vocabulary, merges, scores) that was skipped; only its length is kept."""

    element_type: int
    length: int

    def __len__(self) -> int:
        return self.length


def _type_size(ggml_type: int) -> tuple[int, int] | None:
    """(block size, bytes per block) of a ggml tensor type, from the gguf package when present."""
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        return GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except Exception:
        basic = {0: (1, 4), 1: (1, 2), 30: (1, 2), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8)}
        return basic.get(ggml_type)


def _not_gguf(path: Path, why: str) -> ModelError:
    return ModelError(f"{path} is not a GGUF model file ({why}).", "Point --model at a .gguf file (e.g. one fetched with `glmchat pull`).")


def _truncated(path: Path, have: int, want: int | None) -> ModelError:
    size = f" ({_gib(have)} of {_gib(want)})" if want else ""
    return ModelError(
        f"{path} is truncated{size}: the download did not finish or the file was cut short.",
        "Delete it and download it again (`glmchat pull` resumes and verifies).",
    )


def read_header(path: str | os.PathLike[str]) -> GgufHeader:
    """Parse the GGUF header of `path`; ModelError for anything that is not a complete GGUF header."""
    path = Path(path)
    size = path.stat().st_size
    if size < 4:
        raise _not_gguf(path, "empty file" if size == 0 else "too short")
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            magic = mm[:4]
            if magic != GGUF_MAGIC:
                raise _not_gguf(path, f"starts with {magic!r}, not b'GGUF'")
            cur = _Cursor(mm)
            cur.pos = 4
            try:
                version = cur.unpack("<I")
                if version not in (1, 2, 3):
                    raise _not_gguf(path, f"unsupported GGUF version {version}")
                cur.len_fmt = "<I" if version == 1 else "<Q"
                n_tensors = cur.unpack(cur.len_fmt)
                n_kv = cur.unpack(cur.len_fmt)
                if n_tensors > 1 << 24 or n_kv > 1 << 24:
                    raise _not_gguf(path, "header counts out of range")
                meta: dict[str, Any] = {}
                for _ in range(n_kv):
                    key = cur.string()
                    meta[key] = cur.value(cur.unpack("<I"))
                tensors: list[TensorInfo] = []
                for _ in range(n_tensors):
                    name = cur.string()
                    n_dims = cur.unpack("<I")
                    if n_dims > 8:
                        raise _not_gguf(path, f"tensor {name!r} has {n_dims} dimensions")
                    shape = tuple(cur.unpack(cur.len_fmt) for _ in range(n_dims))
                    ggml_type = cur.unpack("<I")
                    offset = cur.unpack("<Q")
                    tensors.append(TensorInfo(name, shape, ggml_type, offset))
                pos = cur.pos
            except _Truncated:
                raise _truncated(path, size, None) from None
            except (ValueError, struct.error) as exc:
                raise _not_gguf(path, f"corrupt header: {exc}") from None
    except PermissionError:
        raise ModelError(f"Cannot read {path}: permission denied.", f"Make it readable: chmod a+r '{path}'.") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a directory, not a model file.", "Point --model at the .gguf file inside it.") from None
    alignment = int(meta.get("general.alignment", DEFAULT_ALIGNMENT) or DEFAULT_ALIGNMENT)
    data_offset = (pos + alignment - 1) // alignment * alignment
    data_end: int | None = data_offset
    for t in tensors:
        ts = _type_size(t.ggml_type)
        if ts is None:
            data_end = None
            break
        n = 1
        for d in t.shape:
            n *= d
        block, nbytes = ts
        data_end = max(data_end, data_offset + t.offset + n // block * nbytes)
    return GgufHeader(path, version, meta, tensors, data_offset, data_end, size)


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """Return the resolved path of a complete, readable GGUF file, or raise ModelError saying why not."""
    p = Path(path).expanduser()
    if not p.exists():
        hint = "Check the path, or download a model with `glmchat pull`."
        if p.parent.is_dir():
            near = sorted(x.name for x in p.parent.glob("*.gguf"))[:3]
            if near:
                hint = f"GGUF files in {p.parent}: {', '.join(near)}."
        raise ModelError(f"Model file not found: {p}.", hint)
    if p.is_dir():
        ggufs = sorted(x.name for x in p.glob("*.gguf"))[:3]
        hint = f"Point --model at one of: {', '.join(ggufs)}." if ggufs else "Point --model at a .gguf file."
        raise ModelError(f"{p} is a directory, not a model file.", hint)
    if not os.access(p, os.R_OK):
        raise ModelError(f"Cannot read {p}: permission denied.", f"Make it readable: chmod a+r '{p}'.")
    header = read_header(p)
    if header.data_end is not None and header.file_size < header.data_end:
        raise _truncated(p, header.file_size, header.data_end)
    return p.resolve()


def total_ram_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def kv_bytes_per_token(header: GgufHeader, kv_cache_type: str = "f16") -> int:
    """Estimated KV-cache bytes one token of context takes for this model (0 when unknown)."""
    per_elem = KV_BYTES_PER_ELEMENT.get(kv_cache_type, 2.0)
    n_layer = int(header.arch_value("block_count", 0) or 0)
    if not n_layer:
        return 0
    kv_lora = header.arch_value("attention.kv_lora_rank")
    if kv_lora:  # MLA (deepseek2 / GLM-4.7-Flash): a compressed latent + the rope part per layer
        rope = int(header.arch_value("rope.dimension_count", 64) or 64)
        return int(n_layer * (int(kv_lora) + rope) * per_elem)
    n_head = header.arch_value("attention.head_count", 0) or 0
    n_head_kv = header.arch_value("attention.head_count_kv", n_head) or n_head
    if isinstance(n_head, list):
        n_head = max(n_head)
    embd = int(header.arch_value("embedding_length", 0) or 0)
    head_dim = embd // int(n_head) if n_head else 0
    k_len = int(header.arch_value("attention.key_length", head_dim) or head_dim)
    v_len = int(header.arch_value("attention.value_length", head_dim) or head_dim)
    if isinstance(n_head_kv, list):  # per-layer counts
        total_heads = sum(int(h) for h in n_head_kv)
    else:
        total_heads = n_layer * int(n_head_kv)
    return int(total_heads * (k_len + v_len) * per_elem)


def check_memory(
    path: str | os.PathLike[str],
    n_ctx: int,
    *,
    kv_cache_type: str = "f16",
    ram_bytes: int | None = None,
    vram_bytes: int = 0,
    header: GgufHeader | None = None,
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
            f"A {n_ctx:,}-token context needs about {_gib(kv)} of KV cache on top of the {_gib(header.file_size)} model; "
            f"this machine has {_gib(budget)} of {where}.",
            f"Lower the context, e.g. --ctx {fit}" + (', or set kv_cache_type = "q8_0" in config.toml.' if kv_cache_type == "f16" else "."),
        )
    return est
