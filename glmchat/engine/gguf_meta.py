"""Read a GGUF file's header: metadata key/values and tensor descriptions, without loading weights.

Pure Python over an mmap, so `glmchat doctor`, the offload planner and file checks can look inside a
60 GB model in a fraction of a second. Arrays longer than `max_array` (the 154,880-entry token list)
are skipped, not decoded; their length is kept.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glmchat.regular_files import open_regular

GGUF_MAGIC = b"GGUF"

# ggml type id → (elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class GgufFormatError(ValueError):
    """The file is not a GGUF, or its header is cut short or inconsistent."""


class GgufTruncatedError(GgufFormatError):
    """The file starts like a GGUF but ends inside its header."""


def ggml_type_size(type_id: int) -> tuple[int, int] | None:
    """(elements per block, bytes per block) of a ggml tensor type; None when unknown.

    The table above covers the common types; the `gguf` package (when installed) knows newer ones.
    """
    known = GGML_TYPES.get(type_id)
    if known is not None:
        return known[1], known[2]
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        return tuple(GGML_QUANT_SIZES[GGMLQuantizationType(type_id)])  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - gguf missing or the id unknown to it too
        return None


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # relative to the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.type_id, (f"type{self.type_id}", 0, 0))[0]

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class GgufInfo:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int  # absolute offset of the tensor data section
    file_size: int
    array_lengths: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def data_end(self) -> int:
        """Where the last tensor's data ends (absolute); a complete file is at least this long."""
        if not self.tensors:
            return self.data_offset
        return self.data_offset + max(t.offset + t.nbytes for t in self.tensors)

    @property
    def truncated(self) -> bool:
        return self.file_size < self.data_end

    @property
    def context_length(self) -> int:
        """The model's trained context (0 when the header does not say)."""
        return int(self.arch_value("context_length", 0) or 0)

    @property
    def vocab_size(self) -> int | None:
        return self.array_lengths.get("tokenizer.ggml.tokens")


class _Reader:
    def __init__(self, buf: Any, size: int) -> None:
        self.buf, self.size, self.pos = buf, size, 0

    def need(self, n: int) -> None:
        if self.pos + n > self.size:
            raise GgufTruncatedError("header cut short (the file is truncated)")

    def unpack(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 30:
            raise GgufFormatError("implausible string length in header")
        self.need(n)
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return s

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        self.need(n)
        self.pos += n

    def value(self, vtype: int, key: str, info_arrays: dict[str, int], max_array: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype = self.unpack("<I")
            count = self.unpack("<Q")
            info_arrays[key] = count
            if count > max_array:
                if etype == 8:
                    for _ in range(count):
                        self.skip_string()
                elif etype in _SCALARS:
                    width = struct.calcsize(_SCALARS[etype])
                    self.need(width * count)
                    self.pos += width * count
                else:
                    raise GgufFormatError(f"unsupported nested array in {key}")
                return None
            return [self.value(etype, key, {}, max_array) for _ in range(count)]
        raise GgufFormatError(f"unknown metadata value type {vtype} for {key}")


def read_gguf(path: str | Path, *, max_array: int = 4096) -> GgufInfo:
    """Parse the header of `path`.

    Raises GgufTruncatedError for a header cut short, GgufFormatError for anything else that is not a
    GGUF header, OSError for I/O (PermissionError, IsADirectoryError, FileNotFoundError, and
    NotRegularFileError for a FIFO, device or socket).
    """
    path = Path(path)
    fd, st = open_regular(path)  # a FIFO or device is refused (NotRegularFileError), never waited on
    with open(fd, "rb") as fh:
        size = st.st_size
        if size < 24:
            head = fh.read(4)
            if head != GGUF_MAGIC:
                raise GgufFormatError("not a GGUF file (no GGUF magic)")
            raise GgufTruncatedError("header cut short (the file is truncated)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if mm[:4] != GGUF_MAGIC:
                raise GgufFormatError("not a GGUF file (no GGUF magic)")
            r = _Reader(mm, size)
            r.pos = 4
            version = r.unpack("<I")
            if version not in (2, 3):
                raise GgufFormatError(f"unsupported GGUF version {version}")
            n_tensors = r.unpack("<Q")
            n_kv = r.unpack("<Q")
            if n_tensors > 1_000_000 or n_kv > 1_000_000:
                raise GgufFormatError("implausible header counts")
            metadata: dict[str, Any] = {}
            arrays: dict[str, int] = {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.unpack("<I")
                metadata[key] = r.value(vtype, key, arrays, max_array)
            raw: list[tuple[str, tuple[int, ...], int, int]] = []
            for _ in range(n_tensors):
                name = r.string()
                n_dims = r.unpack("<I")
                if n_dims > 8:
                    raise GgufFormatError(f"implausible tensor rank for {name}")
                shape = tuple(r.unpack("<Q") for _ in range(n_dims))
                type_id = r.unpack("<I")
                offset = r.unpack("<Q")
                raw.append((name, shape, type_id, offset))
            align = int(metadata.get("general.alignment", 32) or 32)
            data_offset = (r.pos + align - 1) // align * align
    tensors: list[TensorInfo] = []
    by_offset = sorted(raw, key=lambda t: t[3])
    next_offset = {t[3]: (by_offset[i + 1][3] if i + 1 < len(by_offset) else None) for i, t in enumerate(by_offset)}
    for name, shape, type_id, offset in raw:
        n = 1
        for d in shape:
            n *= d
        type_size = ggml_type_size(type_id)
        if type_size is not None:
            block, nbytes_block = type_size
            nbytes = (n + block - 1) // block * nbytes_block
        else:
            nxt = next_offset.get(offset)
            nbytes = (nxt - offset) if nxt is not None else max(size - data_offset - offset, 0)
        tensors.append(TensorInfo(name, shape, type_id, offset, nbytes))
    return GgufInfo(path, version, metadata, tensors, data_offset, size, arrays)


def nextn_layers(info: GgufInfo) -> int:
    """NextN (MTP) blocks the file carries (GLM-4.7-Flash: 1): `<arch>.nextn_predict_layers` when the
    first one's `nextn.eh_proj` tensor is really there (a quant can keep the key and drop the tensors)."""
    n = int(info.arch_value("nextn_predict_layers", 0) or 0)
    if n <= 0:
        return 0
    probe = f"blk.{int(info.arch_value('block_count', 0) or 0) - n}.nextn.eh_proj.weight"
    shards = [info] + [read_gguf(path) for path in _other_shards(info)]
    return n if any(t.name == probe for shard in shards for t in shard.tensors) else 0


def _other_shards(info: GgufInfo) -> list[Path]:
    """The other files of a split GGUF (`name-00001-of-00003.gguf`) that exist beside this one."""
    import re

    count = int(info.metadata.get("split.count", 1) or 1)
    m = re.match(r"(.*)-(\d{5})-of-(\d{5})\.gguf$", info.path.name)
    if count <= 1 or m is None:
        return []
    names = (f"{m.group(1)}-{i:05d}-of-{m.group(3)}.gguf" for i in range(1, count + 1))
    return [info.path.with_name(n) for n in names if n != info.path.name and info.path.with_name(n).is_file()]
