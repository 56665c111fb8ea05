"""What `LocalEngine.load` hands llama.cpp: checked arguments, the context size, GPU offload and
flash-attention choices, tensor buffer overrides and the model / context parameter structs.

Each choice that departs from what was asked is explained by a line appended to `notes` (shown in
`info.details["notes"]`).
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Sequence

from glmchat.errors import UsageError

KV_CACHE_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # GGML_TYPE_*


def check_load_args(kv_cache_type: str, n_threads: int | None, n_batch: int) -> None:
    """UsageError for values llama.cpp would refuse or misread."""
    if kv_cache_type not in KV_CACHE_TYPES:
        raise UsageError(f"Unknown KV cache type {kv_cache_type!r}.", f"Use one of: {', '.join(KV_CACHE_TYPES)}.")
    if n_threads is not None and n_threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {n_threads}).", "Leave it unset to use the physical cores.")
    if n_batch < 1:
        raise UsageError(f"n_batch must be at least 1 (got {n_batch}).", "The default is 512.")


def choose_threads(n_threads: int | None, notes: list[str], usable: int | None = None) -> int:
    """The threads llama.cpp gets: the physical cores when unset; more than the CPUs this process may
    use (`usable`, by default its affinity mask) are clamped to them — llama.cpp crashes on counts
    such as 100000, and threads beyond the CPUs only wait for each other."""
    from glmchat.engine.devices import physical_cores, usable_cpus

    if n_threads is None:
        return physical_cores()
    cpus = max(1, usable if usable is not None else usable_cpus())
    if n_threads > cpus:
        notes.append(f"threads {n_threads} clamped to the {cpus} CPUs this process may use")
        return cpus
    return n_threads


def fit_context(n_ctx: int, n_ctx_train: int, notes: list[str]) -> int:
    """The context to create: `n_ctx <= 0` means the trained one; larger than trained is clamped."""
    if n_ctx <= 0:
        return n_ctx_train or 4096
    if n_ctx_train and n_ctx > n_ctx_train:
        notes.append(f"context {n_ctx} clamped to the model's trained context {n_ctx_train}")
        return n_ctx_train
    return n_ctx


def choose_offload(gpu: bool, n_gpu_layers: int | None, flash_attn: bool | None, kv_cache_type: str, notes: list[str]) -> tuple[int, bool]:
    """(n_gpu_layers, flash_attn) for a build with or without GPU support (`gpu`)."""
    if n_gpu_layers is None:
        n_gpu_layers = -1 if gpu else 0
    elif not gpu and n_gpu_layers != 0:
        notes.append("this llama.cpp build has no GPU support; running on the CPU")
        n_gpu_layers = 0
    if flash_attn is None:  # on by default, as the planner chooses: faster on GPUs and ~5% on the CPU
        flash_attn = True
    if kv_cache_type != "f16" and not flash_attn:
        notes.append(f"flash attention turned on (a {kv_cache_type} V cache needs it)")
        flash_attn = True
    return n_gpu_layers, flash_attn


def backend_name(on_gpu: bool, gpus: Sequence[Any]) -> str:
    """'CPU', or the GPU backend llama.cpp reports ('CUDA', 'Metal', 'Vulkan', …)."""
    if not on_gpu:
        return "CPU"
    names = [d.backend for d in gpus if d.backend and d.backend != "?"]
    backend = names[0] if names else "GPU"
    return "Metal" if backend == "MTL" else backend


class _BuftOverride(ctypes.Structure):
    """struct llama_model_tensor_buft_override { const char * pattern; ggml_backend_buffer_type_t buft; }"""

    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def tensor_override_array(overrides: Sequence[tuple[str, str]]) -> ctypes.Array[_BuftOverride]:
    """NULL-terminated override list. Hook for MoE offload plans: only target "CPU" is wired so far."""
    from llama_cpp._ggml import libggml as lib

    arr = (_BuftOverride * (len(overrides) + 1))()
    for i, (pattern, target) in enumerate(overrides):
        if target.upper() != "CPU":
            raise UsageError(f"Tensor override target {target!r} is not supported.", 'Use "CPU" (keep matching tensors in RAM).')
        fn = lib.ggml_backend_cpu_buffer_type
        fn.restype = ctypes.c_void_p
        arr[i].pattern = pattern.encode()
        arr[i].buft = fn()
    return arr


def _clamped_progress(progress: Callable[[float], Any]) -> Callable[[float, Any], bool]:
    """llama.cpp's progress callback: `progress(0..1)`, whose exceptions never cross back into C."""

    def _progress(value: float, _user: Any) -> bool:
        try:
            progress(max(0.0, min(1.0, float(value))))
        except Exception:  # noqa: BLE001 - an exception cannot cross back into C
            pass
        return True

    return _progress


def model_params(
    lc: Any,
    n_gpu_layers: int,
    progress: Callable[[float], Any] | None,
    tensor_overrides: Sequence[tuple[str, str]] | None,
    keepalive: list[Any],
) -> Any:
    """llama_model_params (memory-mapped); ctypes objects llama.cpp keeps pointing to go to `keepalive`."""
    mparams = lc.llama_model_default_params()
    mparams.n_gpu_layers = n_gpu_layers
    if hasattr(mparams, "load_mode"):
        mparams.load_mode = lc.LLAMA_LOAD_MODE_MMAP
    else:  # older bindings
        mparams.use_mmap = True
    if progress is not None:
        cb = lc.llama_progress_callback(_clamped_progress(progress))
        keepalive.append(cb)
        mparams.progress_callback = cb
    if tensor_overrides:
        arr = tensor_override_array(tensor_overrides)
        keepalive.append(arr)
        mparams.tensor_buft_overrides = ctypes.cast(arr, ctypes.c_void_p)
    return mparams


def context_params(lc: Any, *, n_ctx: int, n_batch: int, threads: int, flash_attn: bool, kv_cache_type: str) -> Any:
    """llama_context_params for one sequence."""
    cparams = lc.llama_context_default_params()
    cparams.n_ctx = n_ctx
    cparams.n_batch = n_batch
    cparams.n_ubatch = n_batch
    cparams.n_seq_max = 1
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cparams.type_k = KV_CACHE_TYPES[kv_cache_type]
    cparams.type_v = KV_CACHE_TYPES[kv_cache_type]
    cparams.no_perf = True
    return cparams
