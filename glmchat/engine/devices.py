"""What this machine offers the engine: the llama.cpp build's backend, its devices and their memory, RAM.

Devices come from ggml's backend device API (ggml_backend_dev_*) reached through ctypes in the
libraries llama-cpp-python ships; that covers CUDA, Metal, Vulkan and the CPU alike. RAM comes
from the OS. Everything degrades to "CPU only" when a probe fails: detection must never stop glmchat.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEV_TYPES = {0: "CPU", 1: "GPU", 2: "iGPU", 3: "ACCEL"}


@dataclass
class Device:
    name: str  # e.g. "CUDA0", "Metal", "CPU"
    description: str
    kind: str  # CPU | GPU | iGPU | ACCEL
    backend: str  # registry name: CUDA | Metal | Vulkan | CPU | …
    free: int  # bytes
    total: int  # bytes


@dataclass
class MachineInfo:
    backend: str  # the GPU backend the build offers (CUDA, Metal, Vulkan, …) or "CPU"
    gpu_offload: bool
    devices: list[Device] = field(default_factory=list)
    ram_total: int = 0
    ram_available: int = 0
    physical_cores: int = 1
    llama_cpp_version: str = "?"

    @property
    def gpus(self) -> list[Device]:
        return [d for d in self.devices if d.kind in ("GPU", "iGPU")]

    @property
    def vram_free(self) -> int:
        return sum(d.free for d in self.gpus)

    @property
    def vram_total(self) -> int:
        return sum(d.total for d in self.gpus)


def ram() -> tuple[int, int]:
    """(total, available) bytes of system memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh if line.split()[1:2]}
        return info.get("MemTotal", 0), info.get("MemAvailable", info.get("MemFree", 0))
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        avail = os.sysconf("SC_AVPHYS_PAGES") if "SC_AVPHYS_PAGES" in os.sysconf_names else pages
        return pages * size, avail * size
    except (ValueError, OSError, AttributeError):
        return 0, 0


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its CPU affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores this process may use (llama.cpp runs best with one thread per core, not per
    hyper-thread): /proc/cpuinfo's distinct (physical id, core id) pairs, or on macOS the
    performance cores, capped by the CPU affinity mask; os.cpu_count() when nothing better is known."""
    usable = usable_cpus()
    found = 0
    try:
        cores: set[tuple[str, str]] = set()
        phys = core = None
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys or "0", core))
                    phys = core = None
        if core is not None:
            cores.add((phys or "0", core))
        found = len(cores)
    except OSError:
        pass
    if not found and sys.platform == "darwin":
        import subprocess

        for key in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):
            try:
                out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2)
                if out.returncode == 0 and out.stdout.strip():
                    found = int(out.stdout.strip())
                    break
            except (OSError, ValueError, subprocess.SubprocessError):
                continue
    return max(1, min(found or usable, usable))


def _ggml_lib() -> ctypes.CDLL | None:
    import llama_cpp

    libdir = Path(llama_cpp.__file__).parent / "lib"
    names = ["libggml.so", "libggml.dylib", "ggml.dll"]
    for name in names:
        p = libdir / name
        if p.exists():
            try:
                return ctypes.CDLL(str(p))
            except OSError:
                return None
    return None


def _devices() -> list[Device]:
    lib = _ggml_lib()
    if lib is None:
        return []
    try:
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        for fn in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
            getattr(lib, fn).restype = ctypes.c_char_p
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
        lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
        lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_reg_name.restype = ctypes.c_char_p
        lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        out = []
        for i in range(lib.ggml_backend_dev_count()):
            dev = lib.ggml_backend_dev_get(i)
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            reg = lib.ggml_backend_dev_backend_reg(dev)
            out.append(
                Device(
                    name=(lib.ggml_backend_dev_name(dev) or b"?").decode(),
                    description=(lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace"),
                    kind=DEV_TYPES.get(lib.ggml_backend_dev_type(dev), "?"),
                    backend=(lib.ggml_backend_reg_name(reg) or b"?").decode() if reg else "?",
                    free=free.value,
                    total=total.value,
                )
            )
        return out
    except (AttributeError, OSError):
        return []


@lru_cache(maxsize=1)
def detect() -> MachineInfo:
    total, avail = ram()
    cores = physical_cores()
    try:
        import llama_cpp

        version = getattr(llama_cpp, "__version__", "?")
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # not installed / broken build: report CPU and let doctor say so
        return MachineInfo("CPU", False, [], total, avail, cores, "not installed")
    devices = _devices()
    gpu_backends = [d.backend for d in devices if d.kind in ("GPU", "iGPU")]
    backend = gpu_backends[0] if gpu_backends else ("GPU" if offload else "CPU")
    if backend == "MTL":
        backend = "Metal"
    return MachineInfo(backend, offload, devices, total, avail, cores, version)
