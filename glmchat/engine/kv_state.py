"""llama.cpp sequence-state files: sequence 0's KV cache and its tokens, written and read back.

The low-level half of `LocalEngine.save_state` / `load_state` (the engine holds its lock and raises
the errors); `glmchat.engine.kv_snapshot` decides when and where snapshots are kept.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Sequence


def save_sequence(lc: Any, ctx: Any, tokens: Sequence[int], path: str | os.PathLike[str]) -> bool:
    """Write sequence 0's state with `tokens` (llama_state_seq_save_file); False when llama.cpp fails."""
    n = len(tokens)
    arr = (lc.llama_token * max(n, 1))(*tokens)
    return bool(lc.llama_state_seq_save_file(ctx, os.fsencode(os.fspath(path)), 0, arr, n))


def load_sequence(lc: Any, ctx: Any, mem: Any, capacity: int, path: str | os.PathLike[str]) -> list[int] | None:
    """Load a state written by `save_sequence` into sequence 0; its tokens, or None when it does not fit.

    The KV cache is cleared first, and cleared again when the load fails.
    """
    lc.llama_memory_clear(mem, True)
    arr = (lc.llama_token * capacity)()
    count = ctypes.c_size_t(0)
    read = lc.llama_state_seq_load_file(ctx, os.fsencode(os.fspath(path)), 0, arr, capacity, ctypes.byref(count))
    n = int(count.value)
    if bool(read) and 0 < n <= capacity and lc.llama_memory_seq_pos_max(mem, 0) == n - 1:
        return list(arr[:n])
    lc.llama_memory_clear(mem, True)
    return None
